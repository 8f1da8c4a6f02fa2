"""wording: the three tool-calling generators word their reasoning through it, and what it writes is recoverable.

The generators' reasoning is checked by routing: `verdict` and `call_decision` are swapped for markers, and every
generator's reasoning must then carry the marker for what the item says (the offered tools, the call made). A
generator that wrote its own sentence again would fail here.
"""

import json
import random
import re

import pytest

from smolthink.data.sources import function_space, search_docs, synthetic_tools, wording


@pytest.fixture
def marked(monkeypatch):
    """verdict → "<V name fits>", call_decision → "<CALL name args>"."""
    monkeypatch.setattr(wording, "verdict", lambda name, does, fits: f"<V {name} {fits}>")
    monkeypatch.setattr(wording, "call_decision", lambda name, args: f"<CALL {name} {json.dumps(args)}>")


def _first_assistant(messages):
    return next(m for m in messages if m["role"] == "assistant")


@pytest.mark.parametrize("kind", ["single", "multiple", "parallel", "answer_from_result", "irrelevance"])
def test_catalog_kinds_reason_through_wording(marked, kind):
    for i in range(20):
        item = synthetic_tools.make_item(kind, random.Random(f"wording:{kind}:{i}"))
        msg = _first_assistant(item["messages"])
        called = {c["function"]["name"] for c in msg.get("tool_calls", [])}
        for schema in item["tools"]:  # every offered tool gets a verdict, "fits" exactly for the ones called
            name = schema["function"]["name"]
            assert f"<V {name} {name in called}>" in msg["reasoning"], (name, msg["reasoning"])
        if kind in ("single", "multiple", "answer_from_result"):
            (call,) = msg["tool_calls"]
            decision = f"<CALL {call['function']['name']} {json.dumps(call['function']['arguments'])}>"
            assert msg["reasoning"].endswith(decision)


@pytest.mark.parametrize("kind", ["formula", "lookup"])
def test_formula_and_lookup_calls_end_with_wordings_decision(marked, kind):
    calls = 0
    for i in range(30):
        msg = _first_assistant(synthetic_tools.make_item(kind, random.Random(f"wording:{kind}:{i}"))["messages"])
        for call in msg.get("tool_calls", []):
            calls += 1
            assert msg["reasoning"].endswith(
                f"<CALL {call['function']['name']} {json.dumps(call['function']['arguments'])}>")
    assert calls  # both branches were drawn


@pytest.mark.parametrize("decision", function_space.DECISIONS)
def test_function_space_reasons_through_wording(marked, decision):
    for i in range(20):
        messages, tools, extra = function_space.make_item(random.Random(f"wording:fs:{i}"), decision=decision)
        reasoning = messages[1]["reasoning"]
        gold = {c["name"] for c in extra["gold"]}
        fits = set(re.findall(r"<V (\S+) True>", reasoning))
        assert fits == gold, reasoning  # "that fits" is said of the called functions and no other
        if decision == "one":
            (call,) = extra["gold"]
            assert reasoning.endswith(f"<CALL {call['name']} {json.dumps(call['arguments'])}>")


def test_search_docs_reasons_through_wording(marked):
    for i in range(4):  # a search: the call's decision is wording's
        messages, _tools, extra = search_docs.make_item(random.Random(f"wording:sd:{i}"), web_share=0.5 * (i % 2))
        (call,) = messages[1]["tool_calls"]
        assert messages[1]["reasoning"].endswith(f"<CALL {extra['tool']} {json.dumps(call['function']['arguments'])}>")
    for i in range(10):  # no search tool offered: every offered tool gets wording's "does not fit"
        messages, tools, _extra = search_docs.make_unoffered_item(random.Random(f"wording:sd:{i}"))
        for schema in tools:
            assert f"<V {schema['function']['name']} False>" in messages[1]["reasoning"]


def test_arg_text_states_the_arguments_recoverably():
    args = {"city": 'São "Paulo"', "days": 3, "tags": ["a", "b"], "window": {"from": "2025-01-01"}, "ok": True}
    text = wording.arg_text(args)
    as_json = "{" + re.sub(r"(^|, )(\w+)=", r'\1"\2": ', text) + "}"
    assert json.loads(as_json) == args
    assert wording.call_decision("get_weather", args).endswith(f"{text}.")


def test_described_quotes_the_description_first_sentence():
    description = "Search local documents (notes and files) by key words. Returns passages.\n\nArgs:\n    query: …"
    assert wording.described(description) == "search local documents (notes and files) by key words"
    assert wording.described(description, drop_asides=True) == "search local documents by key words"
    for name, t in synthetic_tools.BY_NAME.items():  # what a catalog verdict quotes is in the tools list
        does = synthetic_tools.described(name)
        assert does[0].islower() and does[1:] in t.schema["function"]["description"]
