"""The procedural generators: deterministic, schema-valid, and correct.

Synthetic-reasoning answers are recomputed here from each item's structured `params` with plain Python, datetime
and this file's own fact tables, never with the generator's solving code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import statistics
from fractions import Fraction

import pytest

from smolthink.data.example import SourceError
from smolthink.data.sources import formula_tools as ft
from smolthink.data.sources import lookup_tools as lt
from smolthink.data.sources import synthetic_reasoning as sr
from smolthink.data.sources import synthetic_tools as st
from smolthink.data.sources import wording
from smolthink.formats import ASSISTANT_HEADER, normalize_message, parse_assistant, render, validate_conversation
from smolthink.tools import tool, validate_arguments

PER_TASK = 200

# ------------------------------------------------------------------------------------------- synthetic reasoning


def _rows(examples):
    return [e.to_row() for e in examples]


def test_reasoning_determinism_and_seeds():
    a = _rows(sr.generate(60, seed=1))
    assert a == _rows(sr.generate(60, seed=1))
    b = _rows(sr.generate(60, seed=2))
    same = sum(x["messages"] == y["messages"] for x, y in zip(a, b))
    assert same <= 2, f"{same} of 60 items identical across seeds"
    # item i depends only on (seed, i): a shorter run is a prefix of a longer one
    assert _rows(sr.generate(25, seed=1)) == a[:25]


def test_reasoning_n_tasks_and_errors():
    assert list(sr.generate(0, seed=0)) == []
    rows = list(sr.generate(30, seed=0, tasks=["percent", "sorting"]))
    assert len(rows) == 30 and {r.metadata["task"] for r in rows} == {"percent", "sorting"}
    assert len(sr.TASKS) >= 8
    with pytest.raises(SourceError, match="valid tasks: arithmetic"):
        list(sr.generate(3, seed=0, tasks=["nope"]))
    with pytest.raises(ValueError):
        list(sr.generate(-1, seed=0))


def test_reasoning_examples_are_valid_conversations():
    for ex in sr.generate(2 * len(sr.TASKS), seed=5, system="You are terse."):
        assert validate_conversation(ex.messages, ex.tools) == []
        assert ex.messages[0] == {"role": "system", "content": "You are terse."}
        user, assistant = ex.messages[1:]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert ex.tools == [] and ex.row_id == f"5:{ex.metadata['index']}"
        assert set(ex.metadata) >= {"task", "answer", "seed", "index"}
        json.dumps(ex.metadata)  # stored as JSON text by the build


# Independent solvers: facts and arithmetic written out here, nothing imported from the generator.
LEGS = {"snake": 0, "fish": 0, "jellyfish": 0, "chicken": 2, "duck": 2, "bird": 2, "ostrich": 2, "human": 2, "dog": 4,
        "cat": 4, "cow": 4, "horse": 4, "sheep": 4, "goat": 4, "pig": 4, "lion": 4, "tiger": 4, "elephant": 4,
        "giraffe": 4, "deer": 4, "starfish": 5, "ant": 6, "bee": 6, "beetle": 6, "butterfly": 6, "wasp": 6,
        "cricket": 6, "spider": 8, "scorpion": 8, "octopus": 8, "crab": 10, "lobster": 10, "woodlouse": 14}  # fmt: skip
CENTS = {"penny": 1, "nickel": 5, "dime": 10, "quarter": 25}
BASE_UNITS = {"millimeters": 1, "centimeters": 10, "meters": 1000, "kilometers": 1_000_000, "grams": 1,
              "kilograms": 1000, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800,
              "milliliters": 1, "liters": 1000, "inches": 1, "feet": 12, "yards": 36, "ounces": 1, "pounds": 16,
              "quarts": 1, "gallons": 4, "months": 1, "years": 12}  # fmt: skip
MORE = {"taller", "older", "faster", "heavier", "stronger"}
LESS = {"shorter", "younger", "slower", "lighter", "weaker"}


def _safe_eval(expression: str) -> int:
    assert re.fullmatch(r"[\d\s+\-*()]+", expression), expression
    return eval(expression)  # noqa: S307 - digits, spaces, + - * and parentheses only


def _solve(task: str, p: dict, question: str) -> str:
    if task == "arithmetic":
        assert p["expression"] in question
        return str(_safe_eval(p["expression"]))
    if task == "multiplication":
        assert str(p["a"]) in question and str(p["b"]) in question
        return str(p["a"] * p["b"])
    if task == "word_problem":
        if p["kind"] == "legs":
            return str(sum(LEGS[a] * c for a, c in p["animals"]))
        if p["kind"] == "coins":
            return str(sum(CENTS[k] * c for k, c in p["coins"]))
        if p["kind"] == "items":
            return str(p["start"] + p["groups"] * p["per_group"] - p["removed"])
        assert p["total"] % p["groups"] == 0
        return str(p["total"] // p["groups"])
    if task == "unit_conversion":
        value = Fraction(p["value"]) * BASE_UNITS[p["from"]] / BASE_UNITS[p["to"]]
        assert value.denominator == 1 and p["value"] in question
        return str(value.numerator)
    if task == "base_conversion":
        kind, v = p["direction"], p["value"]
        assert str(v) in question
        return {
            "bin2dec": lambda: str(int(v, 2)),
            "hex2dec": lambda: str(int(v, 16)),
            "dec2bin": lambda: bin(v)[2:],
            "dec2hex": lambda: hex(v)[2:].upper(),
        }[kind]()
    if task == "date_difference":
        start, end = dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"])
        assert start.year == end.year and start < end and str(start.year) in question
        return str((end - start).days)
    if task == "sorting":
        return ", ".join(map(str, sorted(p["items"], reverse=p["descending"])))
    if task == "comparison_logic":
        stated = set()
        for a, rel, b in re.findall(r"(\w+) is (\w+) than (\w+)\.", question):
            stated.add((a, b) if rel in MORE else (b, a) if rel in LESS else None)
        assert stated == {tuple(f) for f in p["facts"]}
        greater = {a for a, _ in p["facts"]}
        lesser = {b for _, b in p["facts"]}
        (top,) = greater - lesser
        (bottom,) = lesser - greater
        return top if p["ask"] == "most" else bottom
    if task == "percent":
        part = Fraction(p["percent"] * p["base"], 100)
        assert part.denominator == 1
        return str({"part": part, "discount": p["base"] - part, "increase": p["base"] + part}[p["kind"]].numerator)
    if task == "letter_count":
        assert p["text"] in question and p["letter"] in question
        return str(p["text"].count(p["letter"]))
    if task == "reverse":
        if p["kind"] == "word":
            return "".join(reversed(p["word"]))
        return ", ".join(reversed(p["words"]))
    if task == "gcd_lcm":
        a, b = p["numbers"]
        return str(math.gcd(a, b) if p["kind"] == "gcd" else math.lcm(a, b))
    if task == "linear_equation":
        lhs, rhs = p["equation"].split(" = ")
        var = p["variable"]
        expr = re.sub(rf"(\d){var}", rf"\1*{var}", lhs)
        value = lambda x: eval(expr.replace(var, f"({x})"))  # noqa: E731,S307 - generated digits and one variable
        assert value(1) - value(0) == p["a"] and value(0) == p["b"] and int(rhs) == p["c"]
        x = Fraction(p["c"] - p["b"], p["a"])
        assert x.denominator == 1 and value(x.numerator) == p["c"]
        return str(x.numerator)
    raise AssertionError(f"no independent solver for {task}")


def test_every_task_has_an_independent_solver():
    assert set(sr.TASKS) == {
        "arithmetic", "multiplication", "word_problem", "unit_conversion", "base_conversion", "date_difference",
        "sorting", "comparison_logic", "percent", "letter_count", "reverse", "gcd_lcm", "linear_equation",
    }  # fmt: skip


@pytest.mark.parametrize("task", sr.TASKS)
def test_answers_are_correct_and_reasoning_short(task):
    words = []
    for i in range(PER_TASK):
        item = sr.make_item(task, random.Random(f"verify:{task}:{i}"))
        assert item["answer"] == _solve(task, item["params"], item["question"]), item
        assert sr.check_answer(item, item["content"]) and sr.check_answer(item, item["answer"]), item
        # the reasoning computes the answer: it reaches the answer (every element of a list) itself
        for part in item["answer"].split(", "):
            assert re.search(rf"(?<![\w-]){re.escape(part)}(?!\w)", item["reasoning"]), (part, item["reasoning"])
        words.append(len(item["reasoning"].split()))
    assert max(words) < 256 and statistics.mean(words) <= 100
    print(f"\n{task}: reasoning words min {min(words)} median {statistics.median(words)} max {max(words)}")


def test_question_and_answer_phrasings_vary():
    for task in sr.TASKS:
        items = [sr.make_item(task, random.Random(f"vary:{task}:{i}")) for i in range(120)]
        openings = {(" ".join(it["question"].split()[:3]), " ".join(it["question"].split()[-3:])) for it in items}
        endings = {re.sub(r"[\d\-]+", "#", it["content"].replace(it["answer"], "@")) for it in items}
        assert len(openings) >= 3, (task, openings)
        assert len(endings) >= 3, (task, endings)
        assert any(it["content"] == it["answer"] for it in items)  # bare answers after "give only the final answer"


@pytest.mark.parametrize(
    ("item", "good", "bad"),
    [
        (
            {"task": "arithmetic", "answer": "1234"},
            ["1,234", "1234.", "The answer is 1234", "1234 apples", " 1234 "],
            ["1235", "12345", "", "The answer is 1,235.", "no idea"],
        ),
        ({"task": "percent", "answer": "-7"}, ["-7", "x = -7.", "The result is -7"], ["7", "-8"]),
        (
            {"task": "sorting", "answer": "3, 7, 12"},
            ["3, 7, 12", "3,7,12", "Sorted: 3, 7, 12.", "The sorted list is 3, 7 and 12."],
            ["7, 3, 12", "3, 7", "1, 3, 7, 12", "3 7 13"],
        ),
        (
            {"task": "reverse", "answer": "acute, go, hundred", "answer_type": "list"},
            ["acute, go, hundred", "Reversed: Acute, go, hundred."],
            ["hundred, go, acute"],
        ),
        (
            {"task": "comparison_logic", "answer": "Ann", "params": {"choices": ["Ann", "Ben", "Cara"]}},
            ["Ann", "ann.", "Ann is the tallest.", "The tallest is Ann.", "**Ann**"],
            ["Ben", "Ann is taller than Ben, so Ben", "Cara is the tallest."],
        ),
        (
            {"task": "reverse", "answer": "alluc", "answer_type": "word"},
            ["alluc", "Backward, it is alluc."],
            ["allcu", "culla"],
        ),
        (
            {"task": "base_conversion", "answer": "2F", "answer_type": "code"},
            ["2F", "0x2f", "47 in hex is 2F."],
            ["2E", "47"],
        ),
        (
            {"task": "base_conversion", "answer": "1101", "answer_type": "code"},
            ["1101", "0b1101", "The answer is 01101."],
            ["1011", "13"],
        ),
    ],
)
def test_check_answer(item, good, bad):
    for text in good:
        assert sr.check_answer(item, text), text
    for text in bad:
        assert not sr.check_answer(item, text), text
    assert not sr.check_answer(item, None)


def test_final_answer_extraction():
    assert sr.final_answer("I think...\nThe answer is 42.") == "42"
    assert sr.final_answer("Answer: **alluc**") == "alluc"
    assert sr.final_answer("revive, day, summer") == "revive, day, summer"
    assert sr.final_answer("") == ""


# ------------------------------------------------------------------------------------------------ render round trip


def _assert_round_trip(messages, tools):
    for k, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        text = render(messages[: k + 1], tools)
        turn = text[text.rfind(ASSISTANT_HEADER) + len(ASSISTANT_HEADER) :]
        parsed = parse_assistant(turn)
        assert parsed.ok, (parsed.errors, parsed.call_errors, turn)
        assert parsed.reasoning == msg["reasoning"]
        assert parsed.content == (msg["content"] or "")
        assert parsed.tool_calls == normalize_message(msg).get("tool_calls", [])


def test_render_parse_round_trip():
    for ex in sr.generate(2 * len(sr.TASKS), seed=11):
        _assert_round_trip(ex.messages, ex.tools)
    for ex in st.generate(4 * len(st.KINDS), seed=11):
        _assert_round_trip(ex.messages, ex.tools)


# ---------------------------------------------------------------------------------------------------------- tools


def test_catalog_schemas_are_derived():
    assert 15 <= len(st.CATALOG) <= 25
    names = [t.name for t in st.CATALOG]
    assert len(set(names)) == len(names)
    for t in st.CATALOG:
        assert t.schema == tool(t.fn).schema
        assert t.schema["function"]["description"]
        for prop in t.schema["function"]["parameters"]["properties"].values():
            assert prop.get("description")
    # the same schema the chat runtime shows for its web_search tool
    from smolthink.tools.web_search import web_search

    assert st.BY_NAME["web_search"].schema == tool(web_search).schema
    assert set(st.BY_NAME) >= {
        "get_weather", "convert_currency", "calculate_area", "search_flights", "get_stock_price", "translate",
        "send_email", "get_time", "web_search", "set_reminder", "find_recipes", "calculate_bmi", "get_distance",
        "book_table", "lookup_word",
    }  # fmt: skip


def test_tools_determinism_n_and_errors():
    a = _rows(st.generate(48, seed=3))
    assert a == _rows(st.generate(48, seed=3))
    b = _rows(st.generate(48, seed=4))
    assert sum(x["messages"] == y["messages"] for x, y in zip(a, b)) <= 3
    assert _rows(st.generate(10, seed=3)) == a[:10]
    assert list(st.generate(0, seed=0)) == []
    only = list(st.generate(12, seed=0, kinds=["parallel"]))
    assert len(only) == 12 and {e.metadata["kind"] for e in only} == {"parallel"}
    with pytest.raises(SourceError, match="valid kinds: single"):
        list(st.generate(2, seed=0, kinds=["bogus"]))


def test_generated_knobs_default_to_function_space_and_steer_the_decision():
    kinds = ["generated", "single"]
    default = _rows(st.generate(60, seed=2, kinds=kinds))
    # the defaults spelt out give the same items as leaving them unset (the shipped recipes set neither)
    assert _rows(st.generate(60, seed=2, kinds=kinds, decisions={"one": 0.45, "several": 0.25, "none": 0.30},
                             result_share=0.4)) == default
    only_none = [e for e in st.generate(60, seed=2, kinds=kinds, decisions={"none": 1, "one": 0, "several": 0})]
    generated = [e for e in only_none if e.metadata["kind"] == "generated"]
    assert {e.metadata["decision"] for e in generated} == {"none"}
    assert not any(m.get("tool_calls") for e in generated for m in e.messages)
    # the other kinds do not draw from the knobs
    assert [r for r in _rows(only_none) if r["metadata"]["kind"] == "single"] == \
        [r for r in default if r["metadata"]["kind"] == "single"]
    no_results = st.generate(60, seed=2, kinds=["generated"], decisions={"one": 1}, result_share=0)
    assert all(len(e.messages) == 2 for e in no_results)  # a call, never followed by its result
    always = list(st.generate(60, seed=2, kinds=["generated"], decisions={"one": 1}, result_share=1))
    assert all(e.messages[2]["role"] == "tool" for e in always)


def _calls(msg):
    return [(c["function"]["name"], c["function"]["arguments"]) for c in msg.get("tool_calls") or []]


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


# the kinds over the hand-written catalog; generated and search have their own tests (test_function_space.py,
# test_search_docs.py)
CATALOG_KINDS = [k for k in st.KINDS if k not in ("generated", "search")]


def test_unset_kinds_mean_the_supported_set():
    assert set(st.SUPPORTED_KINDS) == set(st.KINDS) - {"math", "lookup", "no_search_tool"}
    kinds = [ex.metadata["kind"] for ex in st.generate(3 * len(st.SUPPORTED_KINDS), seed=1)]
    assert set(kinds) == set(st.SUPPORTED_KINDS)
    assert {ex.metadata["kind"] for ex in st.generate(4, seed=1, kinds=["lookup", "math"])} == {"lookup", "math"}


def test_tool_conversations_are_well_formed():
    counts = {k: 0 for k in CATALOG_KINDS}
    for ex in st.generate(100 * len(CATALOG_KINDS), seed=7, kinds=CATALOG_KINDS):
        kind = ex.metadata["kind"]
        counts[kind] += 1
        assert validate_conversation(ex.messages, ex.tools) == []
        assert set(ex.metadata) >= {"kind", "seed", "index"}
        offered = {t["function"]["name"]: t for t in ex.tools}
        assert 1 <= len(offered) <= 4 and len(offered) == len(ex.tools)
        assert ex.messages[0]["role"] == "user"
        pending: list[str] = []
        for k, msg in enumerate(ex.messages):
            if msg["role"] == "assistant":
                assert not pending, "a tool call was left without its result"
                named = [n for n in st.BY_NAME if re.search(rf"\b{n}\b", msg["content"])]
                assert not named, f"the answer to the user names a function: {msg['content']!r}"
                # short reasoning, except a worked synthetic-reasoning problem (an irrelevance item with a "task")
                budget = 300 if "task" in ex.metadata else 110
                assert msg["reasoning"] and len(msg["reasoning"].split()) <= budget, msg["reasoning"]
                for name, args in _calls(msg):
                    assert name in offered, (name, list(offered))
                    assert validate_arguments(offered[name], args) is None
                    pending.append(name)
            elif msg["role"] == "tool":
                assert pending and msg["name"] == pending.pop(0), "tool messages follow their calls, in order"
                prev = next(m for m in reversed(ex.messages[:k]) if m["role"] == "assistant")
                args = next(a for n, a in _calls(prev) if n == msg["name"])
                value = st.BY_NAME[msg["name"]].fn(**args)
                assert msg["content"] == (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        call_turns = [m for m in ex.messages if m["role"] == "assistant" and m.get("tool_calls")]
        last = ex.messages[-1]
        if kind in ("single", "multiple"):
            assert len(call_turns) == 1 and len(_calls(call_turns[0])) == 1 and last is call_turns[0]
            if kind == "multiple":
                assert len(offered) >= 3
        elif kind == "parallel":
            assert len(call_turns) == 1 and 2 <= len(_calls(call_turns[0])) <= 3
        elif kind == "irrelevance":
            assert not call_turns and [m["role"] for m in ex.messages] == ["user", "assistant"] and last["content"]
            needed = ex.metadata["needed"]
            assert "web_search" not in offered or needed is None
            if needed is not None:
                assert not (set(offered) & st.related(needed)), (needed, list(offered))
                assert "web_search" not in offered
        elif kind == "multi_step":
            assert (
                len(call_turns) == 2 and last["role"] == "assistant" and last["content"] and not last.get("tool_calls")
            )
            first_result = json.loads(ex.messages[2]["content"])
            ((_, second_args),) = _calls(call_turns[1])
            values = {str(v) for v in _leaves(first_result)}
            used = [
                v for v in _leaves(second_args) if str(v) in values or any(s in str(v) for s in values if len(s) > 1)
            ]
            assert used, (first_result, second_args)
        elif kind == "answer_from_result":
            assert [m["role"] for m in ex.messages] == ["user", "assistant", "tool", "assistant"]
            result = ex.messages[2]["content"]
            value = json.loads(result) if result.startswith("{") else result.splitlines()
            shown = [v for v in _leaves(value) if isinstance(v, (str, int, float)) and str(v) in last["content"]]
            assert shown, (value, last["content"])
        elif kind == "math":
            assert ex.metadata["task"] in sr.TASKS and len(ex.messages) == 2
            if call_turns:  # the problem's own solver is offered and called
                assert _calls(last)[0][0] == ex.metadata["needed"]
            else:
                assert ex.metadata["needed"] not in offered and last["content"]
        elif kind == "formula":
            assert len(ex.messages) == 2 and ex.metadata["formula"] in ft.BY_KEY
            if call_turns:
                assert _calls(last)[0][0] == ex.metadata["needed"] and not last["content"]
            else:
                assert ex.metadata["needed"] is None and last["content"]
        elif kind == "lookup":
            assert len(ex.messages) == 2
            if call_turns:
                assert _calls(last)[0][0] == ex.metadata["needed"] and not last["content"]
            else:
                assert ex.metadata["needed"] is None and last["content"]
    assert all(counts[k] == 100 for k in CATALOG_KINDS)


def test_formula_problems_are_computed_and_stated_with_their_values():
    rng = random.Random(0)
    for formula in ft.FORMULAS:
        for _ in range(5):
            problem = ft.make_problem(formula, rng)
            assert problem.value == formula.fn(**problem.args)
            assert all(str(v) in problem.text for v in problem.args.values()), problem.text
            assert validate_arguments(ft.schema(formula, "f"), problem.args) is None
            assert problem.worked().endswith(f"= {ft.fmt(problem.value)}")
            assert ft.fmt(problem.value) in problem.answer()
    assert ft.fmt(3.0) == "3" and ft.fmt(2.505) in ("2.5", "2.51") and ft.fmt(-0.125) in ("-0.12", "-0.13")
    assert ft.BY_KEY["cone_volume"].fn(radius=3, height=5) == pytest.approx(47.12, abs=0.01)
    near = ft.near_misses(ft.BY_KEY["cone_volume"], random.Random(1), 2)
    assert len(set(near)) == 2 and ft.BY_KEY["cone_volume"] not in near


def test_formula_kind_calls_the_function_that_computes_the_asked_quantity():
    items = list(st.generate(400, seed=3, kinds=["formula"]))
    calls = [e for e in items if e.messages[1].get("tool_calls")]
    assert 140 <= len(calls) <= 260 and len({e.metadata["formula"] for e in calls}) >= 25
    styles = set()
    for e in items:
        formula = ft.BY_KEY[e.metadata["formula"]]
        described = {t["function"]["name"]: t["function"]["description"] for t in e.tools}
        msg = e.messages[1]
        assert re.match(rf"(The user wants|I need) {formula.quantity}[.,]", msg["reasoning"])  # what is asked, first
        for name, description in described.items():  # what each offered function calculates, then the verdict
            quantity = description.removeprefix("Calculate ").split(" from the ")[0]
            verdict = "the same quantity" if description == formula.describe() else "a different quantity"
            assert f"{name} calculates {quantity}: {verdict}." in msg["reasoning"], (name, msg["reasoning"])
            styles.add(name.split("_")[0].split(".")[0] if "." not in name else "dotted")
        if msg.get("tool_calls"):
            ((name, args),) = _calls(msg)
            assert described[name] == formula.describe() and not msg["content"]
            assert msg["reasoning"].endswith(f"So I'll call {name} with {wording.arg_text(args)}.")
            assert all(str(v) in e.messages[0]["content"] for v in args.values())
        else:  # only neighbouring quantities on offer: none computes the asked one, the answer is worked out
            assert formula.describe() not in described.values() and "No tool fits" in msg["reasoning"]
            assert msg["content"].endswith(".") and any(ch.isdigit() for ch in msg["content"])
    assert styles == {"calculate", "get", "dotted"}


def test_lookup_kind_calls_the_function_that_gets_the_asked_fact():
    items = list(st.generate(400, seed=3, kinds=["lookup"]))
    calls = [e for e in items if e.messages[1].get("tool_calls")]
    assert 140 <= len(calls) <= 260
    near = {"same subject": 0, "same fact": 0}
    for e in items:
        user, msg = e.messages
        asked = re.match(r"(?:The user wants|I need) (.+?)\. ", msg["reasoning"]).group(1)  # what is asked, first
        assert asked in user["content"]
        fact = next(f for f in lt.FACTS if asked.startswith(f.phrase + " of ") and asked.endswith(
            tuple(f.subject.say.format(v=v) for v in f.subject.values)))
        assert e.metadata["fact"] == f"{fact.subject.key}/{fact.key}"
        for t in e.tools:  # what each offered function gets (its description's words), then the verdict
            name, description = t["function"]["name"], t["function"]["description"]
            thing = re.sub(r"^(Get|Retrieve|Fetch|Look up) ", "", description).removesuffix(".")
            verdict = "the same information" if thing == fact.thing else "different information"
            assert f"{name} gets {thing}: {verdict}." in msg["reasoning"], (name, msg["reasoning"])
            if thing != fact.thing:
                near["same subject"] += thing.endswith(f" of {fact.subject.noun}")
                near["same fact"] += thing.startswith(f"{fact.phrase} of ")
        if msg.get("tool_calls"):
            ((name, args),) = _calls(msg)
            offered = {t["function"]["name"]: t["function"]["description"] for t in e.tools}
            assert offered[name].endswith(f" {fact.thing}.") and not msg["content"]
            assert msg["reasoning"].endswith(f"So I'll call {name} with {wording.arg_text(args)}.")
            assert list(args.values())[0] in user["content"]
        else:  # only other facts on offer: none gets the asked one, the request is declined without a call
            assert "No tool fits" in msg["reasoning"] and asked in msg["content"]
    assert near["same subject"] > 100 and near["same fact"] > 5  # near misses, not just unrelated tools


@pytest.mark.parametrize("kind", ["single", "multiple", "parallel", "answer_from_result", "irrelevance"])
def test_catalog_kinds_compare_every_offered_tool_before_deciding(kind):
    for e in st.generate(150, seed=5, kinds=[kind]):
        msg = e.messages[1]
        called = [name for name, _ in _calls(msg)]
        for t in e.tools:  # what each offered tool can do, then whether that fits; the decision comes after
            name = t["function"]["name"]
            verdict = "that fits" if name in called else "that does not fit"
            description = t["function"]["description"].split("\n")[0].removesuffix(".")
            does = description[0].lower() + description[1:]  # the tool's own words, not a paraphrase of the request
            assert f"{name} can {does}: {verdict}." in msg["reasoning"], (name, msg["reasoning"])
        decision = msg["reasoning"].index("I'll call" if called else "No tool fits")
        assert decision > max(m.end() for m in re.finditer(r": that (fits|does not fit)\.", msg["reasoning"]))
        assert bool(called) == (kind != "irrelevance")


def test_math_kind_calls_the_solver_that_does_the_asked_operation():
    from smolthink.data.sources import task_tools

    items = list(st.generate(400, seed=3, kinds=["math"]))
    calls = [e for e in items if e.messages[1].get("tool_calls")]
    assert 100 <= len(calls) <= 300 and len({e.metadata["task"] for e in calls}) >= 8
    for e in items:
        offered = [t["function"]["name"] for t in e.tools]
        msg = e.messages[1]
        assert all(name in msg["reasoning"] for name in offered)  # what each offered tool does, then the decision
        if msg.get("tool_calls"):
            ((name, args),) = _calls(msg)
            assert f"{name} matches the request" in msg["reasoning"] and not msg["content"]
            # the arguments are the problem's own values (bases, signs, the sort flag and ISO dates aside)
            values = [str(abs(v)) if isinstance(v, (int, float)) else v for v in _leaves(args)
                      if not isinstance(v, bool) and v not in (2, 10, 16)]
            if e.metadata["task"] != "date_difference":
                assert all(v.lower() in e.messages[0]["content"].lower() for v in values), (e.messages[0], args)
        else:
            assert "No tool matches the request" in msg["reasoning"] and msg["content"]
    # the generator runs every call and checks its result against the problem's answer: a mismatch raises
    problem = sr.make_item("gcd_lcm", random.Random(1))
    _, (name, args) = task_tools.goal_and_call(problem)
    assert task_tools.checked_call(problem, name, args)["function"] == {"name": name, "arguments": args}
    with pytest.raises(ValueError, match="answer is"):
        task_tools.checked_call({**problem, "answer": int(problem["answer"]) + 1}, name, args)


def test_irrelevance_covers_requests_for_missing_tools_and_general_questions():
    items = [e for e in st.generate(300, seed=9, kinds=["irrelevance"])]
    needed = [e.metadata["needed"] for e in items]
    assert sum(n is not None for n in needed) >= 60 and sum(n is None for n in needed) >= 60
    # problems to work out with an unrelated tool on offer: solved in full, no calculator offered
    problems = [e for e in items if "task" in e.metadata]
    assert len(problems) >= 40 and len({e.metadata["task"] for e in problems}) >= 8
    for e in problems:
        offered = [t["function"]["name"] for t in e.tools]
        reasoning, answer = e.messages[1]["reasoning"], e.messages[1]["content"]
        assert "calculator" not in offered and all(name in reasoning for name in offered)
        assert ("myself" in reasoning or "step by step" in reasoning) and len(reasoning.split()) > 20 and answer
    assert len({n for n in needed if n}) >= 10


def test_catalog_functions_are_deterministic():
    rng = random.Random(0)
    for name, make in st.REQUESTS.items():
        for _ in range(5):
            req = make(rng)
            assert validate_arguments(st.BY_NAME[name].schema, req.args) is None, (name, req.args)
            assert st.BY_NAME[name].fn(**req.args) == st.BY_NAME[name].fn(**req.args)


def test_each_catalog_record_holds_one_tool_whole():
    assert list(st.TOOLS) == list(st.BY_NAME) == list(st.REQUESTS)
    rng = random.Random(1)
    for name, record in st.TOOLS.items():
        assert set(record.related) <= set(st.TOOLS) - {name}, name  # a misspelt relation would block nothing
        req = record.request(rng)
        result = record.fn(**req.args)
        assert isinstance(record.answer(req.args, result), str) and record.capability
        if record.direct is not None:
            assert isinstance(record.direct(req.args, result), str)
    # a math tool and the calculator serve each other's requests
    assert all(st.related(n) >= {n, "calculator"} for n in st.MATH_TOOLS)
    assert st.related("calculator") == set(st.MATH_TOOLS)
