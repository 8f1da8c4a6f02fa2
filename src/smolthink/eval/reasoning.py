"""The reasoning suite: held-out reasoning-gym tasks (scored by reasoning-gym's own scorers) and synthetic-reasoning
problems (scored by synthetic_reasoning.check_answer).

Questions come from the same generators as the training data (`smolthink.data.sources.gym` and
`.synthetic_reasoning`), at held-out seeds. The seed rule: **training recipes use generator seeds below 1_000_000;
evaluation uses seeds from 7_000_000 up** (`EVAL_SEED` here, 7_100_000 for the compliance suite). Both generators
build item i from (seed, i) alone, so different seeds never share an item by construction; what they can share by
chance is a question text, in tasks whose problem space is small ("Spell apple backward."). Such cases are skipped
at eval time for a model whose data build holds the question (`smolthink.data.decontam`: the build records a hash
of every prompt); ids keep the generator index, so they stay stable.

A case's id is f"{category}/{seed}:{i}": item i of that task's generator at that seed. Item i of a task does not
depend on `limit` or on which other tasks are chosen, so the generation cache (keyed by id and prompt) stays valid.

Dev and test: the split of a generated suite is its seed. `test` is item i at `EVAL_SEED` (the cases this suite
has always used), `dev` item i at `EVAL_SEED + DEV_SEED_OFFSET`; a whole split is DEFAULT_LIMIT cases per category.
Dev items whose question is also among the first TEST_POOL test items of the task are skipped, so choosing on dev
never means choosing on test questions.

Groups: categories are reported in three groups (`group_of`). `in_distribution`: the tasks the shipped data sources
generate (every synthetic-reasoning task and the reasoning-gym tasks with worked solutions, gym_solutions.SOLVERS).
`out_of_distribution`: reasoning-gym tasks no shipped source generates or solves (OOD_TASKS by default, easy configs
a 135M model can sometimes get right; a test checks no shipped recipe names one). `grade_school_math`: reasoning-gym's
gsm_symbolic word problems (GSM8K templates with fresh numbers).

Scoring reads the final answer out of the reply (`extract_answer`): the text after </think>, with answer tags,
\\boxed{}, "The answer is" lead-ins and sentence wrapping removed, since reasoning-gym's scorers compare bare answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from smolthink.data.sources import gym, synthetic_reasoning
from smolthink.eval.cases import Case, Scored, check_split
from smolthink.formats import ParsedOutput

EVAL_SEED = 7_000_000
DEV_SEED_OFFSET = 50_000  # dev items come from EVAL_SEED + DEV_SEED_OFFSET
TEST_POOL = 200  # dev skips questions among the first TEST_POOL test items of a task
TRAINING_SEED_LIMIT = 1_000_000  # every generator seed in a training recipe must be below this
DEFAULT_LIMIT = 20  # cases per category

# Out-of-distribution reasoning-gym tasks: none is generated or solved by a shipped data source, each answer is short
# and checkable, and these configs keep them within a small model's reach (yes/no and true/false ones at least at
# chance).
OOD_TASKS: dict[str, dict[str, Any]] = {
    "syllogism": {},
    "family_relationships": {"max_family_size": 5},
    "ransom_note": {"max_note_length": 4, "max_magazine_length": 10},
    "isomorphic_strings": {"max_string_length": 5},
    "prime_factorization": {"max_value": 100},
    "fraction_simplification": {"max_value": 20, "max_factor": 5, "styles": ["plain"]},
}
GSM_TASK = "gsm_symbolic"
GROUPS = ("in_distribution", "out_of_distribution", "grade_school_math")
DEFAULT_GYM_TASKS: tuple[str, ...] = (*gym.EASY_TASKS, *OOD_TASKS, GSM_TASK)
TASK_CONFIGS: dict[str, dict[str, Any]] = dict(OOD_TASKS)  # configs for tasks outside gym.EASY_TASKS


def group_of(category: str) -> str:
    """"in_distribution", "out_of_distribution" or "grade_school_math" for a reasoning category."""
    from smolthink.data.sources.gym_solutions import SOLVERS

    prefix, _, task = category.partition("/")
    if prefix == "synthetic" or task in gym.EASY_TASKS or task in SOLVERS:
        return "in_distribution"
    return "grade_school_math" if task == GSM_TASK else "out_of_distribution"


# ----------------------------------------------------------------------------------------------------- cases


def _check_names(kind: str, names: Sequence[str] | None, valid: Sequence[str], default: Sequence[str]) -> list[str]:
    if names is None:
        return list(default)
    if isinstance(names, str):
        raise ValueError(f"{kind} tasks must be a list of task names, not the string {names!r}")
    unknown = [t for t in names if t not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} task(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(valid))}")
    return list(dict.fromkeys(names))


def _generate(source: Any, n: int, seed: int, task: str) -> list[Any]:
    if source is gym and task in TASK_CONFIGS:
        return list(gym.generate(n, seed=seed, tasks=[task], configs={task: TASK_CONFIGS[task]}))
    return list(source.generate(n, seed=seed, tasks=[task]))


def _held_out(source: Any, task: str, limit: int, seed: int, exclude: frozenset[str] = frozenset()) -> list[Any]:
    """The first `limit` items of one task at `seed` whose question `exclude` does not hold."""
    seen = exclude
    n = limit + 8
    while True:
        # item i depends on (seed, i) alone, so a longer run repeats the shorter one as its prefix
        items = _generate(source, n, seed, task)
        out = [ex for ex in items if _question(ex) not in seen]
        if len(out) >= limit:
            return out[:limit]
        if n > 20 * limit + 100:  # nearly the whole problem space is in the training data
            raise ValueError(f"{task}: only {len(out)} of {n} questions at seed {seed} are not training questions")
        n *= 2


def _question(ex: Any) -> str:
    return next(m["content"] for m in ex.messages if m["role"] == "user")


def split_tasks(names: Sequence[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """["gym/chain_sum", "synthetic/arithmetic"] → (gym tasks, synthetic tasks); None keeps both defaults."""
    if not names:
        return None, None
    gyms, synths = [], []
    for name in names:
        prefix, sep, task = name.partition("/")
        if not sep or prefix not in ("gym", "synthetic") or not task:
            raise ValueError(f"reasoning task {name!r}: write gym/<task> or synthetic/<task>")
        (gyms if prefix == "gym" else synths).append(task)
    return gyms, synths


def load_cases(
    *,
    limit: int | None = None,
    gym_tasks: Sequence[str] | None = None,
    synthetic_tasks: Sequence[str] | None = None,
    enable_thinking: bool = True,
    seed: int = EVAL_SEED,
    split: str = "test",
) -> list[Case]:
    """`limit` cases per category and split (default 20): one category per reasoning-gym task ("gym/<task>";
    DEFAULT_GYM_TASKS by default) and per synthetic-reasoning task ("synthetic/<task>", all by default). `split`:
    "test" (items at `seed`), "dev" (at seed + DEV_SEED_OFFSET) or "all" (dev, then test, per category). Messages
    hold the question only."""
    from reasoning_gym.factory import DATASETS

    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"eval seed {seed} is in the training range (< {TRAINING_SEED_LIMIT})")
    gyms = _check_names("reasoning-gym", gym_tasks, list(DATASETS), DEFAULT_GYM_TASKS)
    synths = _check_names("synthetic-reasoning", synthetic_tasks, synthetic_reasoning.TASKS, synthetic_reasoning.TASKS)
    splits = ["dev", "test"] if check_split(split) == "all" else [split]
    cases: list[Case] = []
    for prefix, source, tasks in (("gym", gym, gyms), ("synthetic", synthetic_reasoning, synths)):
        for task in tasks:
            category = f"{prefix}/{task}"
            for part in splits:
                if part == "dev":
                    test_questions = frozenset(map(_question, _generate(source, TEST_POOL, seed, task)))
                    items = _held_out(source, task, limit, seed + DEV_SEED_OFFSET, exclude=test_questions)
                else:
                    items = _held_out(source, task, limit, seed)
                for ex in items:
                    cases.append(Case(
                        suite="reasoning", category=category, id=f"{category}/{ex.row_id}",
                        messages=[{"role": "user", "content": _question(ex)}],  # never the worked answer
                        enable_thinking=enable_thinking, meta=dict(ex.metadata), group=group_of(category),
                    ))
    return cases


def split_size(split: str) -> int:
    """Cases per category in a whole split (what `load_cases` gives without a limit)."""
    return DEFAULT_LIMIT * (2 if check_split(split) == "all" else 1)


# -------------------------------------------------------------------------------------------------- extraction

# "The answer is", "Final answer:", "the answers are", "Answer =" … (a lead-in needs is/are/:/= after "answer")
_MARKER = re.compile(r"(?i)\b(?:final\s+)?answers?\b\s*(?:is|are|was|:|=)\s*:?\s*")
# "The GCD is 6", "Backward, it is kiut", "In order: 2, 18, 32": used only when the tail is a bare answer
_LEAD_IN = re.compile(r"(?i)\b(?:is|are|was|equals)\b\s*:?\s+|:\s+")
_SIMPLE = re.compile(r"[^\s,]+(?:\s*,\s*[^\s,]+)*")  # one token, or a comma-separated list of tokens
_CONNECTIVE = re.compile(r"(?i)^(?:so|thus|therefore|hence)\b,?\s*")
_WRAPPERS = (("**", "**"), ("`", "`"), ('"', '"'), ("'", "'"), ("“", "”"), ("$", "$"),
             ("\\(", "\\)"), ("\\[", "\\]"))


def _braced(text: str, start: int) -> str | None:
    """The contents of the balanced {...} opening at text[start]; None when it never closes."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j]
    return None


def _unlatex(text: str) -> str:
    for command in ("\\text{", "\\textbf{", "\\mathrm{"):
        while (at := text.find(command)) >= 0:
            inner = _braced(text, at + len(command) - 1)
            if inner is None:
                break
            text = text[:at] + inner + text[at + len(command) + len(inner) + 1 :]
    return text


def _clean(text: str) -> str:
    """Strip wrapping markup, quotes and the closing period around an answer."""
    text = text.strip()
    for _ in range(4):
        before = text
        text = text.rstrip(".!").strip()
        for left, right in _WRAPPERS:
            if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left) : len(text) - len(right)].strip()
        if text == before:
            break
    return text


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[^\s.])[.!?]\s+", text.strip(), maxsplit=1)[0]


def _last_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[^\s.][.!?])\s+", text.strip()) if p.strip()]
    return parts[-1] if parts else ""


def extract_answer(parsed: ParsedOutput) -> str:
    """The final answer of a reply, bare: what reasoning-gym's exact-match scorers expect. Rules, in order:

    1. Only the content after </think> counts (in no-think mode, the whole content); an empty content (an
       unterminated think block leaves none) is no answer: "".
    2. The last <answer>…</answer> block, if any, replaces the content; then the last \\boxed{…}, if any, is the
       answer.
    3. The answer line is the last line with a lead-in ("The answer is", "Final answer:", "Answer =", any case);
       the answer is its first sentence after the last lead-in (or the next non-empty line when nothing follows;
       a lead-in with nothing after it at all is ignored).
       Without a lead-in, the answer line is the last non-empty line and the answer its last sentence.
    4. A calculation keeps its result: text after the last "=" ("3 + 4 = 7" → "7", "x = 5" → "5").
    5. Without a lead-in, "… is X" / "… are X, Y" / "Label: X, Y" keep X (X, Y) when that is a single token or a
       comma-separated list ("The GCD is 6." → "6"; "Ann is the tallest." stays whole).
    6. Markdown bold/code, quotes, $…$, \\text{} and a closing period are stripped.
    """
    content = (parsed.content or "").strip()
    if not content:
        return ""
    if (at := content.rfind("<answer>")) >= 0:
        inner = content[at + len("<answer>") :]
        content = inner.split("</answer>", 1)[0].strip()
    content = content.replace("<answer>", "").replace("</answer>", "").strip()
    if (at := content.rfind("\\boxed{")) >= 0:
        inner = _braced(content, at + len("\\boxed"))
        if inner is not None:
            return _clean(_unlatex(inner))
    lines = [line.replace("**", "").replace("__", "").strip() for line in content.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    answer, marked = None, False
    for k in range(len(lines) - 1, -1, -1):
        hits = list(_MARKER.finditer(lines[k]))
        if hits:
            marked = True
            answer = _first_sentence(lines[k][hits[-1].end() :])
            if not _clean(answer) and k + 1 < len(lines):
                answer = _first_sentence(lines[k + 1])
            if not _clean(answer):  # "… what the answer is." announces no answer: read the reply as unmarked
                answer, marked = None, False
            break
    if answer is None:
        answer = _last_sentence(lines[-1])
    answer = _clean(_unlatex(answer))
    if "=" in answer and (tail := _clean(answer.rsplit("=", 1)[1])):
        answer = tail
    if not marked:
        answer = _CONNECTIVE.sub("", answer)
        hits = list(_LEAD_IN.finditer(answer))
        if hits and (tail := _clean(answer[hits[-1].end() :])) and _SIMPLE.fullmatch(tail):
            answer = tail
    return _clean(answer)


# ----------------------------------------------------------------------------------------------------- scoring

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER_LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?|-?\\frac\{\d+\}\{\d+\}")


@functools.cache
def _math_verify() -> tuple[Any, Any]:
    """math-verify's parse and verify, with its one-time "timeout is disabled" warning silenced: the timeouts are off
    on purpose (see `_math_equal`)."""
    import logging

    from math_verify import parse, verify

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(lambda record: "Timeout is disabled" not in record.getMessage())
    return parse, verify


def _math_equal(gold: str, predicted: str) -> bool:
    """math-verify equivalence for a numeric gold answer, accepting only a number as the prediction ("There are 292
    legs." → 292), never an expression: math-verify would equate "12 + 34" with 46, i.e. the question with its
    answer. Timeouts are off (they rely on signal.alarm, main thread only); the input is short and the only
    comparison ever made is number against number, so nothing can run long."""
    if not predicted or len(predicted) > 200:
        return False
    parse, verify = _math_verify()
    pred = parse(predicted, parsing_timeout=None)
    if len(pred) < 2 or not isinstance(pred[1], str) or not _NUMBER_LITERAL.fullmatch(pred[1].replace(",", "")):
        return False
    return bool(verify(parse(gold, parsing_timeout=None), pred, timeout_seconds=None))


def score(case: Case, parsed: ParsedOutput) -> Scored:
    """gym/* cases: right when reasoning-gym's scorer gives 1.0 or math-verify finds a numeric answer equal to the
    gold one; synthetic/* cases: synthetic_reasoning.check_answer. The score is 0 or 1: the accuracy counts right
    answers. reasoning-gym's partial credit (0.01 for any wrong answer in the answer format on many tasks, which a
    model earns by the format alone) goes to the detail, not the score."""
    meta = case.meta
    extracted = extract_answer(parsed)
    gold = str(meta.get("answer"))
    if case.category.startswith("gym/"):
        try:
            value = gym.score(meta, extracted) if extracted else 0.0
        except Exception as e:  # some scorers parse the answer and raise on prose (prime_factorization: int("The…"))
            return Scored(case.id, case.category, False, 0.0, f"expected {gold!r}, got {extracted!r} ({type(e).__name__})")
        if value < 1.0 and _NUMBER.fullmatch(gold.strip()) and _math_equal(gold.strip(), extracted):
            value = 1.0
        correct = float(value) >= 1.0
        credit = f"; reasoning-gym credit {float(value):.2f}" if 0.0 < float(value) < 1.0 else ""
        return Scored(case.id, case.category, correct, float(correct),
                      f"expected {gold!r}, got {extracted!r}{credit}")
    elif case.category.startswith("synthetic/"):
        correct = bool(synthetic_reasoning.check_answer(meta, extracted))
        value = float(correct)
    else:
        raise ValueError(f"not a reasoning case: category {case.category!r} (expected gym/… or synthetic/…)")
    return Scored(case.id, case.category, correct, value, f"expected {gold!r}, got {extracted!r}")
