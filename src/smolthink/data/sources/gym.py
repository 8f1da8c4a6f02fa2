"""reasoning-gym as a prompt source: questions with verifiable answers, for evaluation and teacher distillation.

Items carry no reasoning trace: each Example is the user question plus a one-line instruction to give the final
answer after thinking, and its metadata keeps everything needed to score a reply later (task, config, the full
reasoning-gym entry, JSON-safe). `score` re-creates the task's dataset object (cached) and calls its own
`score_answer`.

Seeding: reasoning-gym datasets build entry j from `Random(dataset_seed + j)`, so two consecutive seeds would share
almost all their items. Each (seed, task) therefore gets its own dataset seed, hashed from both, and the held-out
seeds of the eval never meet the training seeds' items.

Reproducibility: a few tasks (HASH_ORDER_TASKS) build their questions by iterating over sets of strings, so their
items change with Python's per-process string hashing. Their entries are made in a child interpreter with
PYTHONHASHSEED=0 (in-process when this one already runs with it), so a (seed, task) gives the same questions in
every process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from smolthink.data.example import Example, SourceError
from smolthink.data.sources.synthetic_reasoning import FINAL_ANSWER_INSTRUCTION, final_answer

# Configs that keep each task within reach of a 135M–360M model (/work/shared/reference/benchmarks.md), except
# basic_arithmetic: its no-parentheses generator in reasoning-gym 0.1.25 writes the question from the random numbers
# it drew but computes the answer from others, left to right ("Calculate 4 / 1." → "2"), so the parentheses
# generator (answers from eval of the shown expression) is used, without division and with one-digit numbers.
EASY_TASKS: dict[str, dict[str, Any]] = {
    "chain_sum": {"min_terms": 2, "max_terms": 3, "max_digits": 2},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 1, "allow_parentheses": True,
                         "allow_negation": False, "operators": ["+", "-", "*"]},
    "leg_counting": {"max_animals": 3, "max_instances": 5},
    "letter_counting": {"max_words": 5},
    "spell_backward": {"max_word_len": 6},
    "word_sequence_reversal": {"max_words": 4},
    "products": {"max_digits": 2},
    "gcd": {"max_value": 100},
    "lcm": {"max_value": 100},
    "simple_equations": {"max_terms": 2},
    "word_sorting": {"max_words": 4},
}


def _valid_tasks() -> list[str]:
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


def _task_seed(seed: int, task: str) -> int:
    return int(hashlib.sha256(f"{seed}:{task}".encode()).hexdigest()[:8], 16)


def _create(task: str, config: dict[str, Any], *, seed: int, size: int) -> Any:
    import reasoning_gym

    try:
        return reasoning_gym.create_dataset(task, seed=seed, size=size, **config)
    except (TypeError, ValueError, AssertionError) as e:
        raise SourceError(f"reasoning-gym: task {task!r} rejects config {config!r}: {e}") from None


HASH_ORDER_TASKS = frozenset({"isomorphic_strings", "ransom_note"})  # found by generating under two hash seeds

_CHILD = """
import json, sys
from smolthink.data.sources import gym
task, config, seed, size = json.loads(sys.stdin.read())
ds = gym._create(task, config, seed=seed, size=size)
print(json.dumps([gym._json_safe(ds[j]) for j in range(size)]))
"""


def _entries(task: str, config: dict[str, Any], *, seed: int, size: int) -> list[dict[str, Any]]:
    """The first `size` entries of a task's dataset, JSON-safe; the same in every process (HASH_ORDER_TASKS are made
    under PYTHONHASHSEED=0)."""
    if task not in HASH_ORDER_TASKS or sys.flags.hash_randomization == 0:
        ds = _create(task, config, seed=seed, size=size)
        return [_json_safe(ds[j]) for j in range(size)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps([task, config, seed, size]), env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SourceError(f"reasoning-gym: task {task!r} failed in its PYTHONHASHSEED=0 process: "
                          f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout)


def _json_safe(value: Any) -> Any:
    """Tuples become lists and odd objects strings, as they would after a round trip through the dataset on disk."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def generate(
    n: int,
    *,
    seed: int,
    name: str = "reasoning-gym",
    tasks: Sequence[str] | None = None,
    configs: dict[str, dict[str, Any]] | None = None,
    solutions: bool = False,
) -> Iterator[Example]:
    """n Examples, tasks round-robin: item i is entry i // len(tasks) of task tasks[i % len(tasks)]. Prompt-only,
    or with `solutions` a training conversation: the question answered with a worked solution (gym_solutions)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if isinstance(tasks, str):
        raise SourceError(f"reasoning-gym: tasks must be a list of task names, not the string {tasks!r}")
    chosen = list(EASY_TASKS) if tasks is None else list(tasks)
    valid = _valid_tasks()
    unknown = [t for t in chosen if t not in valid]
    if unknown or not chosen:
        raise SourceError(f"reasoning-gym: unknown task {unknown[0] if unknown else '(empty list)'!r}; "
                          f"valid tasks: {', '.join(valid)}")
    if solutions:
        from smolthink.data.sources.gym_solutions import SOLVERS, solve

        unsolved = [t for t in chosen if t not in SOLVERS]
        if unsolved:
            raise SourceError(f"reasoning-gym: no worked solutions for task {unsolved[0]!r} (solutions: true); "
                              f"tasks with solutions: {', '.join(SOLVERS)}")
    configs = configs or {}
    stray = [t for t in configs if t not in chosen]
    if stray:
        raise SourceError(f"reasoning-gym: config given for {stray[0]!r}, which is not among the tasks {chosen}")
    per_task = -(-n // len(chosen)) if n else 0
    datasets, used = {}, {}
    for task in dict.fromkeys(chosen):
        used[task] = _json_safe({**EASY_TASKS.get(task, {}), **configs.get(task, {})})
        datasets[task] = _entries(task, used[task], seed=_task_seed(seed, task), size=max(1, per_task))
    for i in range(n):
        task = chosen[i % len(chosen)]
        entry = datasets[task][i // len(chosen)]
        question = f"{entry['question'].rstrip()}\n\n{FINAL_ANSWER_INSTRUCTION}"
        metadata = {"task": task, "answer": entry["answer"], "entry": entry, "config": used[task], "seed": seed,
                    "index": i}
        messages = [{"role": "user", "content": question}]
        if solutions:
            reasoning, answer = solve(metadata)
            messages.append({"role": "assistant", "content": answer, "reasoning": reasoning})
        yield Example(source=name, row_id=f"{seed}:{i}", messages=messages, metadata=metadata)


@functools.lru_cache(maxsize=None)
def _scorer(task: str, config_json: str) -> Any:
    return _create(task, json.loads(config_json), seed=0, size=1)


def score(metadata: dict[str, Any], predicted_answer: str | None) -> float:
    """The task's own score (0–1) for a predicted answer. A reply that wraps the answer in a sentence ("The answer is
    30.") is scored on its extracted answer too, and the better of the two counts."""
    task = metadata["task"]
    config = metadata.get("config", EASY_TASKS.get(task, {}))
    dataset = _scorer(task, json.dumps(config, sort_keys=True))
    entry = metadata["entry"]
    best = float(dataset.score_answer(predicted_answer, entry))
    if best < 1.0 and isinstance(predicted_answer, str):
        extracted = final_answer(predicted_answer)
        if extracted and extracted != predicted_answer:
            best = max(best, float(dataset.score_answer(extracted, entry)))
    return best
