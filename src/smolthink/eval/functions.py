"""The functions suite: tool calling on functions never seen in training, from the held-out function space.

Cases come from `smolthink.data.sources.function_space` in its held-out family (domains, entity nouns and some verbs
the training family never uses), at eval seeds: FUNCTIONS_SEED (7_200_000) for the test split, FUNCTIONS_SEED +
DEV_SEED_OFFSET (7_250_000) for dev; training uses seeds below 1_000_000 (see eval/reasoning.py). Three categories:

    functions/one      one offered function serves the request: call it with the stated values
    functions/several  two or three things asked, each served by an offered function: all the calls, in any order
    functions/none     no offered function serves it: no call

A case's messages are the user turn alone, as BFCL's are; its tools are the offered schemas. `score` is correct when
the calls match the gold as a set: the same function names, each call's arguments valid for its schema, every
required argument equal to the gold's (numbers numerically, strings trimmed and case-insensitive, arrays element by
element, objects key by key), and an optional argument equal to the gold's when the gold has it (one the gold lacks
only has to be valid). For none: correct when there is no call (a malformed <tool_call> counts as one).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from smolthink.eval.cases import Case, Scored, check_split
from smolthink.formats import ParsedOutput
from smolthink.tools import validate_arguments

SUITE = "functions"
FUNCTIONS_SEED = 7_200_000
DEFAULT_LIMIT = 40  # cases per category and split
CATEGORIES = ("functions/one", "functions/several", "functions/none")


def split_size(split: str) -> int:
    """Cases per category in a whole split (what `load_cases` gives without a limit)."""
    return DEFAULT_LIMIT * (2 if check_split(split) == "all" else 1)


def load_cases(*, limit: int | None = None, split: str = "test", enable_thinking: bool = True,
               seed: int = FUNCTIONS_SEED) -> list[Case]:
    """`limit` cases per category and split (default 40). `split`: "test" (items at `seed`), "dev" (at seed +
    reasoning.DEV_SEED_OFFSET) or "all" (dev, then test, per category)."""
    from smolthink.eval.reasoning import DEV_SEED_OFFSET, TRAINING_SEED_LIMIT

    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"eval seed {seed} is in the training range (< {TRAINING_SEED_LIMIT})")
    seeds = {"test": seed, "dev": seed + DEV_SEED_OFFSET}
    parts = ["dev", "test"] if check_split(split) == "all" else [split]
    cases = []
    for category in CATEGORIES:
        for part in parts:
            cases += [_case(category, seeds[part], i, enable_thinking) for i in range(limit)]
    return cases


def _case(category: str, seed: int, i: int, enable_thinking: bool) -> Case:
    from smolthink.data.sources import function_space

    decision = category.removeprefix("functions/")
    messages, tools, extra = function_space.make_item(random.Random(f"{seed}:{decision}:{i}"), family="heldout",
                                                      decision=decision)
    user = next(m for m in messages if m["role"] == "user")
    return Case(suite=SUITE, category=category, id=f"{decision}/{seed}:{i}",
                messages=[{"role": "user", "content": user["content"]}], tools=tools,
                enable_thinking=enable_thinking,
                meta={"decision": decision, "gold": extra["gold"], "domain": extra["domain"]})


# ---------------------------------------------------------------------------------------------------- scoring


def same_value(gold: Any, got: Any) -> bool:
    """Equal after simple normalisation: numbers numerically, strings trimmed and case-insensitive, arrays element by
    element, objects key by key; booleans only equal booleans."""
    if isinstance(gold, bool) or isinstance(got, bool):
        return isinstance(gold, bool) and isinstance(got, bool) and gold == got
    if isinstance(gold, (int, float)):
        return isinstance(got, (int, float)) and abs(gold - got) <= 1e-9 * max(1.0, abs(gold))
    if isinstance(gold, str):
        return isinstance(got, str) and gold.strip().casefold() == got.strip().casefold()
    if isinstance(gold, list):
        return isinstance(got, list) and len(gold) == len(got) and all(map(same_value, gold, got))
    if isinstance(gold, dict):
        return (isinstance(got, dict) and set(gold) == set(got)
                and all(same_value(gold[k], got[k]) for k in gold))
    return gold == got


def _mismatch(gold: dict[str, Any], call: dict[str, Any], required: list[str]) -> str | None:
    """Why `call` is not the gold call (None when it is); the call's arguments are already valid for its schema."""
    if call["name"] != gold["name"]:
        return f"called {call['name']}, expected {gold['name']}"
    args = call["arguments"]
    for key in required:
        if key not in args or not same_value(gold["arguments"][key], args[key]):
            return f"{gold['name']}: {key}={args.get(key)!r}, expected {gold['arguments'][key]!r}"
    for key, value in args.items():
        if key in gold["arguments"] and not same_value(gold["arguments"][key], value):
            return f"{gold['name']}: {key}={value!r}, expected {gold['arguments'][key]!r}"
    return None


def score(case: Case, parsed: ParsedOutput) -> Scored:
    """Judge one parsed model turn against the case's gold calls. Never raises on model output."""
    calls = [c["function"] for c in parsed.tool_calls]
    gold = case.meta["gold"]
    parse_errors = "; ".join(parsed.call_errors)

    def result(correct: bool, detail: str = "") -> Scored:
        detail = "; ".join(p for p in (detail, parse_errors) if p)
        return Scored(case.id, case.category, correct, 1.0 if correct else 0.0, "" if correct else detail)

    if not gold:
        return result(not calls and not parsed.call_errors,
                      f"called {', '.join(c['name'] for c in calls)} where no call was expected" if calls else "")
    if not calls:
        return result(False, "no tool call")
    if len(calls) != len(gold):
        return result(False, f"{len(calls)} calls, expected {len(gold)}")
    schemas = {t["function"]["name"]: t for t in case.tools}
    for call in calls:
        if call["name"] not in schemas:
            return result(False, f"called {call['name']}, which is not offered")
        problem = validate_arguments(schemas[call["name"]], call["arguments"])
        if problem is not None:
            return result(False, f"{call['name']}: {problem}")
    first_problem = ""
    for order in itertools.permutations(calls):  # the calls may come in any order; at most 3! orders
        problems = [_mismatch(g, c, schemas[g["name"]]["function"]["parameters"].get("required", []))
                    for g, c in zip(gold, order)]
        if not any(problems):
            return result(True)
        first_problem = first_problem or next(p for p in problems if p)
    return result(False, first_problem)
