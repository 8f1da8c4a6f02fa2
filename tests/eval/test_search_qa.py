"""search_qa: held-out cases, and scoring of calls and answers parsed from rendered turns."""

from __future__ import annotations

import json
import random

import pytest

from smolthink.data.sources import search_docs as sd
from smolthink.eval import search_qa as sq
from smolthink.eval.reasoning import TRAINING_SEED_LIMIT
from smolthink.formats import ASSISTANT_HEADER, END_OF_TURN, parse_assistant, render


@pytest.fixture(scope="module")
def cases():
    return sq.load_cases(limit=12)


def _parsed(case, message):
    """The assistant turn as the model would write it: rendered with the template, then parsed back."""
    text = render([*case.messages, message], case.tools, enable_thinking=case.enable_thinking)
    turn = text[text.rindex(ASSISTANT_HEADER) + len(ASSISTANT_HEADER):]
    return parse_assistant(turn[: turn.index(END_OF_TURN)])


def _call(name, args):
    return {"role": "assistant", "content": "", "reasoning": "I'll search.",
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": args}}]}


def _say(text):
    return {"role": "assistant", "content": text, "reasoning": "Reading the passages."}


def test_cases_and_splits(cases):
    assert [c.category for c in cases] == ["search_qa/call"] * 12 + ["search_qa/answer"] * 12
    assert len({c.id for c in cases}) == 24 and all(c.suite == "search_qa" for c in cases)
    dev = sq.load_cases(limit=12, split="dev")
    assert not {c.id for c in dev} & {c.id for c in cases}
    assert len(sq.load_cases(limit=3, split="all")) == 12
    assert sq.split_size("test") == sq.DEFAULT_LIMIT and sq.split_size("all") == 2 * sq.DEFAULT_LIMIT
    assert min(sq.SEARCH_QA_SEED, sq.DEV_SEED) >= TRAINING_SEED_LIMIT
    assert sq.load_cases(limit=2) == cases[:2] + cases[12:14]
    for case in cases:
        assert "local_search" in {t["function"]["name"] for t in case.tools}
        if case.category == "search_qa/answer":
            assert [m["role"] for m in case.messages] == ["user", "assistant", "tool"]
            assert case.messages[2]["content"] == case.meta["passages"]
    assert not sq.load_cases(limit=12, enable_thinking=False)[0].enable_thinking
    with pytest.raises(ValueError):
        sq.load_cases(split="train")


def test_eval_names_are_held_out(cases):
    train_entities = set()
    for i in range(150):
        _m, _t, extra = sd.make_item(random.Random(f"3:{i}"))
        train_entities |= {text.splitlines()[0].lstrip("# ") for text in extra["corpus"].values()}
    eval_entities = {c.meta["entity"] for c in cases}
    assert eval_entities and not eval_entities & train_entities
    train_words = set(sd.NAME_POOLS["entity"]["train"])
    assert not {e.split()[0] for e in eval_entities} & train_words


def test_call_scoring(cases):
    for case in (c for c in cases if c.category == "search_qa/call"):
        gold = _call("local_search", {"query": case.meta["query"]})
        assert sq.score(case, _parsed(case, gold)).correct
        short = _call("local_search", {"query": case.meta["entity"].split()[0].lower()})
        assert sq.score(case, _parsed(case, short)).correct
        for wrong in (_call("local_search", {"query": "weather tomorrow"}), _call("local_search", {"query": " "}),
                      _call("calculator", {"expression": "2+2"}), _say(f"I don't know {case.meta['entity']}.")):
            scored = sq.score(case, _parsed(case, wrong))
            assert not scored.correct and scored.score == 0.0 and scored.detail
    calls = [_call("local_search", {"query": "a b"}), _call("calculator", {"expression": "1"})]
    both = {"role": "assistant", "content": "", "reasoning": "x", "tool_calls": [c["tool_calls"][0] for c in calls]}
    assert not sq.score(cases[0], _parsed(cases[0], both)).correct


def test_answer_scoring(cases):
    answers = [c for c in cases if c.category == "search_qa/answer"]
    assert {c.meta["answerable"] for c in answers} == {True, False}
    for case in answers:
        seed, index = case.meta["seed"], case.meta["index"]
        messages, _tools, _extra = sd.make_item(random.Random(f"{seed}:{index}"), pool="eval", web_share=0.0)
        gold = sq.score(case, _parsed(case, messages[3]))
        assert gold.correct and gold.score == 1.0 and gold.detail == "grounded", gold
        entity, attribute = case.meta["entity"], case.meta["attribute"]
        invented = _say(f"The {attribute} of {entity} is 4321.")
        scored = sq.score(case, _parsed(case, invented))
        assert not scored.correct and "ungrounded: 4321" in scored.detail
        if case.meta["answerable"]:
            padded = _say(f"It is {case.meta['fact']}, and it costs 98765 more.")
            scored = sq.score(case, _parsed(case, padded))
            assert scored.correct and "ungrounded: 98765" in scored.detail
            assert not sq.score(case, _parsed(case, _say("I couldn't find that in your documents."))).correct
        else:
            assert sq.score(case, _parsed(case, _say("Your documents do not mention it."))).correct
            scored = sq.score(case, _parsed(case, _say("The documents don't say; it is probably 9:15 am.")))
            assert not scored.correct and "ungrounded" in scored.detail
        again = _call("local_search", {"query": "more"})
        assert not sq.score(case, _parsed(case, again)).correct


def test_normalisation():
    assert sq.contains_fact("The fare is €3.40 return", "€3.40")
    assert sq.contains_fact("It opens at 6:30 AM.", "6:30 am")
    assert not sq.contains_fact("It opens at 16:30.", "6:30 am")
    assert not sq.contains_fact("Costs 13.40", "€3.40")
    assert sq.ungrounded_numbers("call 0363 698 998 at 7", "line 0363 698 998", "") == ["7"]
    assert json.dumps(sq.CATEGORIES)
