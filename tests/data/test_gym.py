"""reasoning-gym as a prompt source: counts, determinism, seed separation, errors, and scoring of every EASY task."""

from __future__ import annotations

import json
import math
import re

import pytest

from smolthink.data.example import SourceError
from smolthink.data.sources import gym
from smolthink.data.sources.synthetic_reasoning import FINAL_ANSWER_INSTRUCTION
from smolthink.formats import validate_conversation

N = 3 * len(gym.EASY_TASKS)


@pytest.fixture(scope="module")
def items():
    return list(gym.generate(N, seed=0))


def test_n_roles_and_metadata(items):
    assert len(items) == N
    assert list(gym.generate(0, seed=0)) == []
    assert {e.metadata["task"] for e in items} == set(gym.EASY_TASKS)
    for e in items:
        assert validate_conversation(e.messages, e.tools) == []
        (msg,) = e.messages
        assert msg["role"] == "user" and msg["content"].endswith(FINAL_ANSWER_INSTRUCTION)
        assert e.metadata["entry"]["question"] in msg["content"]
        assert e.metadata["answer"] == e.metadata["entry"]["answer"]
        assert set(e.metadata) >= {"task", "answer", "entry", "seed", "index"}
        assert json.loads(json.dumps(e.metadata)) == e.metadata  # JSON-safe as stored
        assert e.row_id == f"0:{e.metadata['index']}" and e.source == "reasoning-gym"


def test_deterministic_prefix_stable_and_seeds_apart(items):
    rows = [e.to_row() for e in items]
    assert rows == [e.to_row() for e in gym.generate(N, seed=0)]
    assert [e.to_row() for e in gym.generate(11, seed=0)] == rows[:11]
    # consecutive seeds must not shift onto each other's items (reasoning-gym seeds entry j with seed + j)
    other = {e.metadata["entry"]["question"] for e in gym.generate(N, seed=1)}
    shared = sum(e.metadata["entry"]["question"] in other for e in items)
    assert shared <= 3, f"{shared} questions shared between seeds 0 and 1"


def test_unknown_task_and_bad_config():
    with pytest.raises(SourceError, match=r"unknown task 'not_a_task'.*chain_sum"):
        list(gym.generate(2, seed=0, tasks=["not_a_task"]))
    with pytest.raises(SourceError, match="not among the tasks"):
        list(gym.generate(2, seed=0, tasks=["gcd"], configs={"lcm": {"max_value": 10}}))
    with pytest.raises(SourceError, match="rejects config"):
        list(gym.generate(2, seed=0, tasks=["gcd"], configs={"gcd": {"no_such_option": 1}}))


def test_config_override_is_used_and_recorded():
    rows = list(gym.generate(6, seed=2, tasks=["chain_sum"], configs={"chain_sum": {"max_terms": 2}}))
    for e in rows:
        assert e.metadata["config"]["max_terms"] == 2
        assert len(re.findall(r"\d+", e.metadata["entry"]["metadata"]["expression"])) == 2


@pytest.mark.parametrize("task", sorted(gym.EASY_TASKS))
def test_score_gold_and_wrong(items, task):
    for e in [e for e in items if e.metadata["task"] == task]:
        meta = json.loads(json.dumps(e.metadata))  # as read back from disk
        gold = meta["answer"]
        assert gym.score(meta, gold) == 1.0
        assert gym.score(meta, f"The answer is {gold}.") == 1.0
        assert gym.score(meta, f"{gold}X9 wrong") < 1.0
        assert gym.score(meta, "") < 1.0 and gym.score(meta, None) < 1.0


def test_gold_answers_of_arithmetic_tasks_are_right():
    rows = list(gym.generate(60, seed=4, tasks=["chain_sum", "basic_arithmetic", "products", "gcd", "lcm"]))
    for e in rows:
        meta = e.metadata["entry"]["metadata"]
        if e.metadata["task"] in ("gcd", "lcm"):
            fn = math.gcd if e.metadata["task"] == "gcd" else math.lcm
            assert str(fn(*meta["numbers"])) == e.metadata["answer"]
        else:
            expression = meta["expression"]
            assert re.fullmatch(r"[\d\s+\-*()]+", expression), expression
            assert str(eval(expression)) == e.metadata["answer"], expression  # noqa: S307 - digits and + - * ( ) only


# ------------------------------------------------------------------------------------------- worked solutions


def test_worked_solutions_are_accepted_by_each_tasks_scorer():
    """Every easy task, many items: a user question answered with reasoning and the bare answer, which the task's own
    scorer accepts; the prompt is exactly the prompt-only item's (so training sees the eval's format)."""
    from smolthink.data.sources import gym_solutions

    assert set(gym_solutions.SOLVERS) == set(gym.EASY_TASKS)
    n = 40 * len(gym.EASY_TASKS)
    plain = list(gym.generate(n, seed=5))
    solved = list(gym.generate(n, seed=5, solutions=True))
    for p, e in zip(plain, solved):
        assert validate_conversation(e.messages, e.tools) == []
        user, reply = e.messages
        assert user == p.messages[0] and reply["role"] == "assistant"
        assert reply["reasoning"] and "\n" not in reply["reasoning"]
        assert gym.score(e.metadata, reply["content"]) == 1.0
        assert gym.score(e.metadata, reply["content"] + "x") < 1.0  # the scorer is strict, so the check means something


def test_worked_solution_steps_follow_the_numbers():
    from smolthink.data.sources.gym_solutions import solve

    def meta(task, **m):
        return {"task": task, "answer": "", "entry": {"metadata": m}}

    assert solve({**meta("products", expression="26 * 41"), "answer": "1066",
                  "entry": {"metadata": {"expression": "26 * 41"}, "answer": "1066", "question": "",
                            }})[0] == "26 * 41 = 41 * 20 + 41 * 6 = 820 + 246 = 1066."
    with pytest.raises(ValueError, match="not accepted"):  # a wrong expected answer is a bug, not a silent row
        solve({**meta("products", expression="2 * 3"), "answer": "7",
               "entry": {"metadata": {"expression": "2 * 3"}, "answer": "7", "question": ""}})


def test_solutions_for_a_task_without_a_solver_are_refused():
    with pytest.raises(SourceError, match=r"no worked solutions for task 'n_queens'.*chain_sum"):
        list(gym.generate(2, seed=0, tasks=["n_queens"], solutions=True))


_PRINT_QUESTIONS = """
import json, sys
from smolthink.data.sources import gym
from smolthink.eval import reasoning
tasks = sorted(set(gym.EASY_TASKS) | set(reasoning.DEFAULT_GYM_TASKS))
print(json.dumps({t: [e.messages[0]["content"] for e in gym.generate(3, seed=77, tasks=[t],
                  configs={t: reasoning.TASK_CONFIGS[t]} if t in reasoning.TASK_CONFIGS else None)] for t in tasks}))
"""


def test_questions_are_the_same_in_every_process():
    """Python's string hashing differs per process; a task that iterates over sets of strings (HASH_ORDER_TASKS) is
    generated under PYTHONHASHSEED=0, so eval cases compare across runs. Two other hash seeds must agree on every
    task the data and the eval use, and without the fix the listed tasks would not."""
    import os
    import subprocess
    import sys

    def questions(hash_seed: str) -> dict:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _PRINT_QUESTIONS], env=env, capture_output=True, text=True,
                              check=True)
        return json.loads(done.stdout)

    a, b = questions("1"), questions("2")
    assert set(gym.HASH_ORDER_TASKS) <= set(a)
    assert a == b
    raw = {h: subprocess.run([sys.executable, "-c", "import json, sys; from smolthink.data.sources import gym; "
                              "ds = gym._create('ransom_note', {}, seed=5, size=3); "
                              "print(json.dumps([ds[j]['question'] for j in range(3)]))"],
                             env={**os.environ, "PYTHONHASHSEED": h}, capture_output=True, text=True, check=True).stdout
           for h in ("1", "2")}
    assert raw["1"] != raw["2"]  # reasoning-gym itself does depend on the hash seed: the child process is needed
