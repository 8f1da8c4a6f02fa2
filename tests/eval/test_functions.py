"""The functions suite: held-out cases, split sizes, and scoring calls parsed from rendered text."""

from __future__ import annotations

import json

import pytest

from smolthink.data.sources import function_space as fs
from smolthink.eval import functions
from smolthink.eval.cases import Case
from smolthink.formats import parse_assistant

THINK = "<think>\nI compared the functions.\n</think>\n\n"


def reply(*calls: tuple[str, dict], text: str = "") -> str:
    """An assistant turn as the model writes it: thinking, then one <tool_call> block per call (or text)."""
    blocks = "\n".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in calls)
    return THINK + (blocks or text)


def judge(case: Case, raw: str):
    return functions.score(case, parse_assistant(raw))


@pytest.fixture(scope="module")
def cases():
    return functions.load_cases(limit=5)


def by(cases, category):
    return [c for c in cases if c.category == f"functions/{category}"]


def test_cases_are_held_out_and_well_formed(cases):
    assert [c.category for c in cases] == [c for c in functions.CATEGORIES for _ in range(5)]
    assert len({c.id for c in cases}) == len(cases)
    train_names = {t["function"]["name"] for ex in fs.generate(500, seed=0) for t in ex.tools}
    for c in cases:
        assert c.suite == "functions" and c.meta["domain"] in fs.HELDOUT_DOMAINS
        assert [m["role"] for m in c.messages] == ["user"]
        assert 1 <= len(c.tools) <= 5 and not {t["function"]["name"] for t in c.tools} & train_names
        assert (c.meta["decision"] == "none") == (not c.meta["gold"])
    assert all(len(c.meta["gold"]) >= 2 for c in by(cases, "several"))


def test_splits_and_sizes():
    for split in ("dev", "test", "all"):
        cases = functions.load_cases(split=split, limit=3)
        assert len(cases) == 3 * len(functions.CATEGORIES) * (2 if split == "all" else 1)
    assert functions.split_size("test") == functions.split_size("dev") == functions.DEFAULT_LIMIT
    assert functions.split_size("all") == 2 * functions.DEFAULT_LIMIT
    dev, test = functions.load_cases(split="dev", limit=3), functions.load_cases(split="test", limit=3)
    assert not {c.id for c in dev} & {c.id for c in test}
    assert [c.id for c in test] == [c.id for c in functions.load_cases(limit=3)]  # test is the default
    assert not functions.load_cases(limit=2, enable_thinking=False)[0].enable_thinking
    with pytest.raises(ValueError):
        functions.load_cases(split="train")
    with pytest.raises(ValueError):
        functions.load_cases(seed=5)
    with pytest.raises(ValueError):
        functions.load_cases(limit=-1)


def test_gold_calls_score_correct(cases):
    for c in cases:
        raw = reply(*[(g["name"], g["arguments"]) for g in c.meta["gold"]], text="Sorry, I can't do that.")
        result = judge(c, raw)
        assert result.correct and result.score == 1.0, (c.id, result.detail)


def test_several_calls_in_any_order(cases):
    c = by(cases, "several")[0]
    calls = [(g["name"], g["arguments"]) for g in reversed(c.meta["gold"])]
    assert judge(c, reply(*calls)).correct
    assert not judge(c, reply(*calls[:1])).correct  # one call missing
    assert not judge(c, reply(*calls, calls[0])).correct  # one call too many


def _one_with(cases, predicate):
    for c in by(cases, "one") + by(functions.load_cases(limit=40), "one"):
        gold = c.meta["gold"][0]
        schema = next(t for t in c.tools if t["function"]["name"] == gold["name"])["function"]["parameters"]
        for key in schema["required"]:
            if predicate(schema["properties"][key], gold["arguments"][key]):
                return c, gold, key
    raise AssertionError("no such case")


def test_normalised_values(cases):
    c, gold, key = _one_with(cases, lambda prop, v: prop["type"] == "string" and "enum" not in prop)
    args = {**gold["arguments"], key: "  " + gold["arguments"][key].upper() + " "}
    assert judge(c, reply((gold["name"], args))).correct
    c, gold, key = _one_with(cases, lambda prop, v: prop["type"] == "integer")
    args = {**gold["arguments"], key: float(gold["arguments"][key])}  # 12.0 for the integer 12
    assert judge(c, reply((gold["name"], args))).correct


def test_wrong_calls_score_wrong(cases):
    c = by(cases, "one")[0]
    gold = c.meta["gold"][0]
    other = next((t["function"]["name"] for t in c.tools if t["function"]["name"] != gold["name"]), None)
    assert not judge(c, reply(text="I can't help with that.")).correct  # no call
    assert "no tool call" in judge(c, reply(text="No.")).detail
    assert not judge(c, reply(("not_offered", gold["arguments"]))).correct
    if other is not None:
        assert not judge(c, reply((other, gold["arguments"]))).correct
    c, gold, key = _one_with(cases, lambda prop, v: prop["type"] == "string" and "enum" not in prop)
    wrong = {**gold["arguments"], key: gold["arguments"][key] + "x"}
    result = judge(c, reply((gold["name"], wrong)))
    assert not result.correct and key in result.detail
    missing = {k: v for k, v in gold["arguments"].items() if k != key}
    assert not judge(c, reply((gold["name"], missing))).correct
    c, gold, key = _one_with(cases, lambda prop, v: prop["type"] in ("integer", "number"))
    wrong = {**gold["arguments"], key: gold["arguments"][key] + 1}
    assert not judge(c, reply((gold["name"], wrong))).correct
    as_text = {**gold["arguments"], key: str(gold["arguments"][key])}  # a number written as a string: invalid
    assert not judge(c, reply((gold["name"], as_text))).correct


def test_optional_arguments(cases):
    def takes_limit(c):
        gold = next(t for t in c.tools if t["function"]["name"] == c.meta["gold"][0]["name"])
        return "limit" in gold["function"]["parameters"]["properties"]

    c = next(c for c in by(functions.load_cases(limit=40), "one") if takes_limit(c))
    gold = c.meta["gold"][0]
    if "limit" in gold["arguments"]:  # given by the user: must match
        other = {**gold["arguments"], "limit": gold["arguments"]["limit"] + 1}
        assert not judge(c, reply((gold["name"], other))).correct
    else:  # not asked for: any valid value passes, an invalid one does not
        assert judge(c, reply((gold["name"], {**gold["arguments"], "limit": 7}))).correct
        assert not judge(c, reply((gold["name"], {**gold["arguments"], "limit": "seven"}))).correct
    assert not judge(c, reply((gold["name"], {**gold["arguments"], "unknown_arg": 1}))).correct


def test_none_cases(cases):
    c = by(cases, "none")[0]
    assert judge(c, reply(text="Sorry, none of my functions can do that.")).correct
    name = c.tools[0]["function"]["name"]
    result = judge(c, reply((name, {})))
    assert not result.correct and name in result.detail
    assert not judge(c, THINK + "<tool_call>\n{not json\n</tool_call>").correct


def test_same_value():
    assert functions.same_value(3, 3.0) and functions.same_value(" Dune ", "dune")
    assert functions.same_value({"start": "2025-01-02", "end": "X"}, {"end": "x", "start": "2025-01-02"})
    assert not functions.same_value(True, 1) and not functions.same_value(1, True)
    assert not functions.same_value(["a", "b"], ["b", "a"]) and not functions.same_value("3", 3)
    assert not functions.same_value({"start": "a"}, {"start": "a", "end": "b"})
