"""The reasoning suite: answer extraction, scoring of every gym and synthetic task, held-out case loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolthink.data.recipe import load_recipe
from smolthink.data.sources import gym, synthetic_reasoning
from smolthink.eval import reasoning
from smolthink.eval.cases import Case
from smolthink.eval.reasoning import EVAL_SEED, TRAINING_SEED_LIMIT, extract_answer, load_cases, score
from smolthink.formats import parse_assistant

RECIPES = sorted((Path(__file__).parents[2] / "recipes" / "data").glob("*.yaml"))
GENERATORS = ("synthetic-reasoning", "synthetic-tools", "reasoning-gym")


def think(answer: str, reasoning: str = "Let me work it out step by step.") -> str:
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


def extracted(answer: str) -> str:
    return extract_answer(parse_assistant(think(answer)))


@pytest.fixture(scope="module")
def cases():
    return load_cases(limit=3)


# ------------------------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(("reply", "expected"), [
    ("42", "42"),
    ("42.", "42"),
    ("-14", "-14"),
    ("3.5", "3.5"),
    ("The answer is 42.", "42"),
    ("So the answer is 12.", "12"),
    ("Therefore, the final answer is 12!", "12"),
    ("Answer: 42", "42"),
    ("Final answer: 42", "42"),
    ("**Final Answer:** 42", "42"),
    ("The answer is **42**.", "42"),
    ("The answer is `42`", "42"),
    ("The answer is $42$.", "42"),
    ("\\boxed{42}", "42"),
    ("So the answer is $\\boxed{42}$.", "42"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\text{kiut}}", "kiut"),
    ("<answer>42</answer>", "42"),
    ("<answer>\nThe answer is 42.\n</answer>", "42"),
    ("<answer>tiuk", "tiuk"),
    # multi-line: the lead-in line wins, else the last line
    ("First, 3 + 4 = 7.\nThen 7 * 2 = 14.\n14", "14"),
    ("Step 1: 3 + 4 = 7.\nSo the answer is 7.\nI hope this helps!", "7"),
    ("The answer is:\n\n12", "12"),
    ("The answer is 12. Let me double-check: 3 * 4 = 12.", "12"),
    ("I added the numbers. The result is 7.", "7"),
    ("Therefore, 7.", "7"),
    # a calculation keeps its result
    ("3 + 4 = 7", "7"),
    ("1 * (9 - 9) = 0.", "0"),
    ("x = 5", "5"),
    ("Answer: k = -8.", "-8"),
    ("The GCD of 99 and 97 is 1.", "1"),
    ("20% of 925 is 185.", "185"),
    # word answers (spell_backward, word_sequence_reversal, word_sorting styles)
    ("kiut", "kiut"),
    ('"kiut"', "kiut"),
    ('The word backward is "kiut".', "kiut"),
    ("Backward, it is elppa.", "elppa"),
    ("you, Gutenberg, the", "you, Gutenberg, the"),
    ("Reversed: you, Gutenberg, the.", "you, Gutenberg, the"),
    ("The sorted words are: apple, banana, cherry.", "apple, banana, cherry"),
    ("The answers are apple, banana.", "apple, banana"),
    ("In order: 2, 18, 32, 74, 98.", "2, 18, 32, 74, 98"),
    # sentences whose tail is not a bare answer stay whole (the scorers read numbers / names out of them)
    ("Ann is the tallest.", "Ann is the tallest"),
    ("There are 292 legs.", "There are 292 legs"),
    ('The letter "r" appears 3 times.', 'The letter "r" appears 3 times'),
    ("The answer is 10000110.", "10000110"),
    ("Let me see what the answer is:\n7", "7"),
    ("I wonder what the answer is.", "I wonder what the answer is"),  # a lead-in with nothing after it
])
def test_extract_answer(reply, expected):
    assert extracted(reply) == expected


def test_extract_answer_needs_the_content_after_think():
    # unterminated think: the answer in the reasoning does not count
    assert extract_answer(parse_assistant("<think>\nThe answer is 5, so")) == ""
    assert extract_answer(parse_assistant(think(""))) == ""
    assert extract_answer(parse_assistant(think("   \n "))) == ""
    # no-think mode: the prompt pre-fills an empty think block, or there is none at all
    assert extract_answer(parse_assistant("<think>\n\n</think>\n\nThe answer is 42.")) == "42"
    assert extract_answer(parse_assistant("The answer is 42.")) == "42"
    # the answer after </think>, not a number in the reasoning
    assert extract_answer(parse_assistant(think("The answer is 9.", "The answer is 5? No."))) == "9"


# -------------------------------------------------------------------------------------------------- scoring

SENTENCES = {  # a realistic answer sentence per reasoning-gym task
    "chain_sum": "So the answer is {a}.",
    "basic_arithmetic": "The result is {a}.",
    "leg_counting": "There are {a} legs in total.",
    "letter_counting": "The letter appears {a} times.",
    "spell_backward": 'The word backward is "{a}".',
    "word_sequence_reversal": "Reversed: {a}.",
    "products": "The product is {a}.",
    "gcd": "The GCD is {a}.",
    "lcm": "The LCM is {a}.",
    "simple_equations": "Answer: x = {a}",
    "word_sorting": "The sorted words are: {a}.",
    # out of distribution
    "syllogism": "So the answer is {a}.",
    "family_relationships": "The relationship is {a}.",
    "ransom_note": "The answer is {a}.",
    "isomorphic_strings": "So they are isomorphic: {a}",
    "prime_factorization": "So the final answer is: {a}",
    "fraction_simplification": "The simplified fraction is {a}.",
    "gsm_symbolic": "So {a} students are leaving early.",
}


def _wrong(answer: str) -> str:
    try:
        return str(int(answer) + 1)
    except ValueError:
        if "×" in answer:  # a prime factorization: one factor too many
            return f"{answer} × 2"
        words = [w.strip() for w in answer.split(",")]
        return ", ".join(words[1:] + words[:1]) if len(set(words)) > 1 else answer[::-1] + "q"


def test_every_default_gym_task_has_a_sentence():
    assert set(SENTENCES) == set(reasoning.DEFAULT_GYM_TASKS)
    assert set(gym.EASY_TASKS) | set(reasoning.OOD_TASKS) | {reasoning.GSM_TASK} == set(reasoning.DEFAULT_GYM_TASKS)


def test_gym_gold_scores_correct_and_wrong_scores_incorrect(cases):
    gym_cases = [c for c in cases if c.category.startswith("gym/")]
    assert {c.category for c in gym_cases} == {f"gym/{t}" for t in reasoning.DEFAULT_GYM_TASKS}
    credited = 0
    for case in gym_cases:
        gold = case.meta["answer"]
        for reply in (gold, f"The answer is {gold}.", SENTENCES[case.meta["task"]].format(a=gold)):
            result = score(case, parse_assistant(think(reply)))
            assert result.correct and result.score == 1.0, (case.id, reply, result)
            assert result.case_id == case.id and result.category == case.category
        wrong = score(case, parse_assistant(think(f"The answer is {_wrong(gold)}.")))
        assert not wrong.correct and wrong.score == 0.0, (case.id, wrong)  # accuracy counts right answers only
        assert wrong.detail.startswith(f"expected {gold!r}, got {_wrong(gold)!r}")
        credited += "reasoning-gym credit" in wrong.detail
        assert not score(case, parse_assistant(f"<think>\nThe answer is {gold}")).correct  # no answer given
    assert credited  # some scorers give a wrong answer partial credit; it stays in the detail, out of the score


def test_a_scorer_that_raises_on_prose_scores_zero(cases):
    case = next(c for c in cases if c.category == "gym/prime_factorization")
    result = score(case, parse_assistant(think("It is the product of two primes, I think.")))
    assert not result.correct and result.score == 0.0 and "ValueError" in result.detail


def test_math_verify_accepts_numbers_not_expressions(cases):
    case = next(c for c in cases if c.category == "gym/chain_sum")
    gold, expression = case.meta["answer"], case.meta["entry"]["metadata"]["expression"]
    assert score(case, parse_assistant(think(f"There are {gold} in total."))).correct  # math-verify finds the number
    assert score(case, parse_assistant(think(f"{int(gold)}.0"))).correct
    # the question's own expression equals the answer, but is not an answer
    assert not score(case, parse_assistant(think(expression))).correct
    assert not score(case, parse_assistant(think(f"The answer is {expression}"))).correct
    assert not score(case, parse_assistant(think("9^9^9^9"))).correct


def test_synthetic_worked_answers_score_correct_and_wrong_ones_do_not(cases):
    """The generator's own answer sentences ("The LCM is 1264.", "k = -8.", "In order: 2, 18.") must score correct:
    they are what a model trained on this data writes."""
    synthetic_cases = [c for c in cases if c.category.startswith("synthetic/")]
    assert {c.category for c in synthetic_cases} == {f"synthetic/{t}" for t in synthetic_reasoning.TASKS}
    for case in synthetic_cases:
        task, index = case.meta["task"], case.meta["index"]
        worked = list(synthetic_reasoning.generate(index + 1, seed=case.meta["seed"], tasks=[task]))[index]
        user, assistant = worked.messages
        assert user["content"] == case.messages[0]["content"]
        result = score(case, parse_assistant(think(assistant["content"], assistant["reasoning"])))
        assert result.correct and result.score == 1.0, (case.id, assistant["content"], result)
        assert score(case, parse_assistant(think(f"The answer is {case.meta['answer']}."))).correct
        gold = case.meta["answer"]
        if case.meta["answer_type"] == "word" and (choices := case.meta["params"].get("choices")):
            wrong = next(c for c in choices if c != gold)
        elif case.meta["answer_type"] == "code":
            wrong = gold + "1"
        else:
            wrong = _wrong(gold) if case.meta["answer_type"] != "number" else str(float(gold) + 1)
        result = score(case, parse_assistant(think(f"The answer is {wrong}.")))
        assert not result.correct and result.score == 0.0, (case.id, wrong)
        assert not score(case, parse_assistant("<think>\nhmm")).correct


def test_score_rejects_other_suites():
    with pytest.raises(ValueError, match="not a reasoning case"):
        score(Case("reasoning", "bfcl/simple", "x", []), parse_assistant("1"))


# ---------------------------------------------------------------------------------------------------- cases


def test_load_cases_shape(cases):
    n_categories = len(reasoning.DEFAULT_GYM_TASKS) + len(synthetic_reasoning.TASKS)
    assert len(cases) == 3 * n_categories
    assert len({c.id for c in cases}) == len(cases)
    for c in cases:
        assert c.suite == "reasoning" and c.enable_thinking and c.tools == []
        assert c.id.startswith(f"{c.category}/{EVAL_SEED}:")
        (msg,) = c.messages
        assert msg["role"] == "user" and msg["content"].strip()
        assert c.meta["task"] == c.category.split("/", 1)[1] and "answer" in c.meta
        if c.category.startswith("gym/"):
            assert c.meta["entry"]["question"] in msg["content"]
    assert load_cases(limit=0) == []


def test_load_cases_deterministic_and_ids_stable(cases):
    assert load_cases(limit=3) == cases
    categories = list(dict.fromkeys(c.category for c in cases))
    assert load_cases(limit=1) == [next(c for c in cases if c.category == cat) for cat in categories]
    picked = load_cases(limit=3, gym_tasks=["gcd"], synthetic_tasks=["reverse"], enable_thinking=False)
    assert [c.category for c in picked] == ["gym/gcd"] * 3 + ["synthetic/reverse"] * 3
    by_id = {c.id: c for c in cases}
    for c in picked:
        assert not c.enable_thinking
        assert c.messages == by_id[c.id].messages and c.meta == by_id[c.id].meta
    other = load_cases(limit=3, seed=EVAL_SEED + 1)
    assert not {c.messages[0]["content"] for c in other if c.category == "synthetic/arithmetic"} & {
        c.messages[0]["content"] for c in cases if c.category == "synthetic/arithmetic"}


def test_load_cases_any_gym_task_and_errors():
    (case,) = load_cases(limit=1, gym_tasks=["basic_arithmetic"], synthetic_tasks=[])
    assert case.category == "gym/basic_arithmetic"
    with pytest.raises(ValueError, match=r"unknown reasoning-gym task.*'nope'.*valid:.*chain_sum"):
        load_cases(gym_tasks=["nope"])
    with pytest.raises(ValueError, match=r"unknown synthetic-reasoning task.*'nope'.*valid:.*arithmetic"):
        load_cases(synthetic_tasks=["nope"])
    with pytest.raises(ValueError, match="not the string"):
        load_cases(gym_tasks="gcd")
    with pytest.raises(ValueError, match="training range"):
        load_cases(seed=1000)


# -------------------------------------------------------------------------------------- held-out from training


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_seeds_are_training_seeds(path):
    recipe = load_recipe(path)
    assert recipe.seed < TRAINING_SEED_LIMIT <= EVAL_SEED
    for spec in recipe.sources:
        assert spec.seed < TRAINING_SEED_LIMIT, (path.name, spec.name, spec.seed)


def test_eval_items_keep_their_generator_index():
    # small problem spaces collide by chance ("Spell apple backward."): decontamination drops such cases per model
    # (tests/eval/test_decontam.py); the ids name the generator item, so they never shift
    more = load_cases(limit=30, gym_tasks=[], synthetic_tasks=["reverse"])
    assert [c.id for c in more] == [f"synthetic/reverse/{EVAL_SEED}:{i}" for i in range(30)]


def test_task_selection_picks_exactly_the_named_tasks():
    from smolthink.eval.reasoning import load_cases, split_tasks

    gyms, synths = split_tasks(["gym/chain_sum", "synthetic/arithmetic"])
    cases = load_cases(limit=2, gym_tasks=gyms, synthetic_tasks=synths)
    assert sorted({c.category for c in cases}) == ["gym/chain_sum", "synthetic/arithmetic"] and len(cases) == 4
    assert split_tasks(None) == (None, None)
    with pytest.raises(ValueError, match="gym/<task> or synthetic/<task>"):
        split_tasks(["chain_sum"])


# ------------------------------------------------------------------------------------- dev/test split, groups


def test_dev_and_test_splits_are_disjoint_seeds_and_questions():
    test = load_cases(limit=20, gym_tasks=["spell_backward", "gcd"], synthetic_tasks=["reverse"])
    dev = load_cases(limit=20, gym_tasks=["spell_backward", "gcd"], synthetic_tasks=["reverse"], split="dev")
    assert test == load_cases(limit=20, gym_tasks=["spell_backward", "gcd"], synthetic_tasks=["reverse"], split="test")
    assert all(c.id.split("/")[-1].startswith(f"{EVAL_SEED + reasoning.DEV_SEED_OFFSET}:") for c in dev)
    assert len(dev) == len(test) == 60
    assert not {c.messages[0]["content"] for c in dev} & {c.messages[0]["content"] for c in test}
    both = load_cases(limit=20, gym_tasks=["spell_backward", "gcd"], synthetic_tasks=["reverse"], split="all")
    assert sorted(c.id for c in both) == sorted(c.id for c in dev + test)
    assert reasoning.split_size("all") == 2 * reasoning.split_size("test") == 2 * reasoning.DEFAULT_LIMIT


def test_groups_in_distribution_out_of_distribution_and_gsm(cases):
    from smolthink.data.sources.gym_solutions import SOLVERS

    assert len(reasoning.OOD_TASKS) >= 5 and reasoning.GSM_TASK == "gsm_symbolic"
    assert not set(reasoning.OOD_TASKS) & (set(gym.EASY_TASKS) | set(SOLVERS))
    by_group = {}
    for c in cases:
        by_group.setdefault(c.group, set()).add(c.category)
        assert c.group == reasoning.group_of(c.category)
    assert by_group["out_of_distribution"] == {f"gym/{t}" for t in reasoning.OOD_TASKS}
    assert by_group["grade_school_math"] == {"gym/gsm_symbolic"}
    assert by_group["in_distribution"] == {f"gym/{t}" for t in SOLVERS} | {f"synthetic/{t}" for t in synthetic_reasoning.TASKS}
    assert reasoning.group_of("gym/countdown") == "out_of_distribution"  # any task no source generates


SHIPPED_RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("data/*.yaml")) + sorted(
    (Path(__file__).parents[2] / "recipes").glob("distill/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_shipped_recipe_trains_on_an_out_of_distribution_task(path):
    import yaml

    text = path.read_text(encoding="utf-8")
    for task in (*reasoning.OOD_TASKS, reasoning.GSM_TASK):
        assert task not in text, (path.name, task)
    # and a reasoning-gym source without a tasks list generates the easy tasks only
    recipe = yaml.safe_load(text)
    for source in recipe.get("sources", []) + recipe.get("prompts", []):
        if source.get("type") == "reasoning-gym":
            tasks = source.get("tasks") or list(gym.EASY_TASKS)
            assert not set(tasks) & (set(reasoning.OOD_TASKS) | {reasoning.GSM_TASK}), (path.name, tasks)


DISTILLED_FOLDERS = sorted(p.parent for p in (Path(__file__).parents[2] / "recipes/data").glob("*/distilled.jsonl"))


@pytest.mark.parametrize("folder", DISTILLED_FOLDERS, ids=lambda p: p.name)
def test_committed_distilled_data_holds_no_evaluation_task_or_seed(folder):
    """The distilled rows shipped beside the data recipes (teacher answers) come from training seeds of the tasks the
    data trains, never from an out-of-distribution task, grade-school math or an evaluation seed."""
    import json

    rows = [json.loads(line) for line in (folder / "distilled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows
    for row in rows:
        meta = row["metadata"]
        task = meta.get("task")
        assert task not in reasoning.OOD_TASKS and task != reasoning.GSM_TASK, (folder.name, row["id"], task)
        if row["source"] == "gym":
            assert task in gym.EASY_TASKS, (folder.name, row["id"], task)
        if "seed" in meta:
            assert meta["seed"] < TRAINING_SEED_LIMIT <= EVAL_SEED, (folder.name, row["id"], meta["seed"])
