"""function-space: deterministic, every call valid, values recoverable from the request, families disjoint."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from smolthink.data.example import SourceError
from smolthink.data.sources import function_space as fs
from smolthink.formats import validate_conversation
from smolthink.tools import validate_arguments
from test_synthetic import _leaves  # every scalar of a nested value

N = 2000


def _items(family: str, n: int = N, seed: int = 11) -> list:
    return list(fs.generate(n, seed=seed, family=family))


@pytest.fixture(scope="module")
def train():
    return _items("train")


@pytest.fixture(scope="module")
def heldout():
    return _items("heldout")


def test_deterministic_and_item_i_alone():
    a = [ex.to_row() for ex in fs.generate(30, seed=3)]
    assert a == [ex.to_row() for ex in fs.generate(30, seed=3)]
    assert a != [ex.to_row() for ex in fs.generate(30, seed=4)]
    # item 7 does not depend on the items before it
    messages, tools, _ = fs.make_item(random.Random("3:7"))
    assert (a[7]["messages"], a[7]["tools"]) == (messages, tools)
    assert a[7]["metadata"] == {"kind": "generated", "seed": 3, "index": 7, "decision": a[7]["metadata"]["decision"],
                                "family": "train", "domain": a[7]["metadata"]["domain"]}


def test_schema_shape():
    _, tools, _ = fs.make_item(random.Random("shape"))
    for t in tools:
        assert set(t) == {"type", "function"} and t["type"] == "function"
        fn = t["function"]
        assert set(fn) == {"name", "description", "parameters"}
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", fn["name"]), fn["name"]
        params = fn["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])


@pytest.mark.parametrize("family", fs.FAMILIES)
def test_calls_validate_and_conversations_are_well_formed(family, train, heldout):
    items = train if family == "train" else heldout
    for ex in items:
        assert validate_conversation(ex.messages, ex.tools) == [], ex.row_id
        offered = {t["function"]["name"]: t for t in ex.tools}
        assert len(offered) == len(ex.tools) and 1 <= len(ex.tools) <= 5
        assistant = ex.messages[1]
        assert assistant["role"] == "assistant" and assistant["reasoning"]
        assert len(assistant["reasoning"].split()) < fs.MAX_REASONING_WORDS
        calls = assistant.get("tool_calls", [])
        for call in calls:
            fn = call["function"]
            assert validate_arguments(offered[fn["name"]], fn["arguments"]) is None
        decision = ex.metadata["decision"]
        assert (decision == "none") == (not calls)
        assert (decision == "several") == (len(calls) >= 2)
        assert all(f"{name} " in assistant["reasoning"] for name in offered)  # every offered function compared


def test_make_item_gold_matches_calls():
    for i in range(200):
        messages, tools, extra = fs.make_item(random.Random(f"gold:{i}"))
        calls = [c["function"] for c in messages[1].get("tool_calls", [])]
        assert extra["gold"] == [{"name": c["name"], "arguments": c["arguments"]} for c in calls]
        assert extra["decision"] in fs.DECISIONS


def test_all_decisions_occur_and_results_sometimes(train):
    decisions = Counter(ex.metadata["decision"] for ex in train)
    assert set(decisions) == set(fs.DECISIONS)
    assert all(count > N * 0.15 for count in decisions.values()), decisions
    with_result = [ex for ex in train if ex.messages[-1]["role"] == "assistant" and len(ex.messages) > 2]
    assert 0.1 * N < len(with_result) < 0.5 * N
    for ex in with_result[:50]:  # the answer quotes what the tool returned
        results = [json.loads(m["content"]) for m in ex.messages if m["role"] == "tool"]
        answer = ex.messages[-1]["content"]
        quoted = [v for r in results for v in _leaves(r) if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                  and str(v) not in ("ok", "True")]
        assert any(str(v) in answer for v in quoted), (answer, results)


def test_decision_weights_from_a_recipe_mapping():
    assert fs.decision_weights(None) == fs.DECISION_WEIGHTS
    assert fs.decision_weights({"none": 2, "one": 1}) == (1, 0, 2)  # in DECISIONS order, left out: 0
    for bad, why in (({"nope": 1}, "unknown decision 'nope'; valid: one, several, none"),
                     ({"one": -1}, "weight of 'one' must be a number >= 0"),
                     ({"one": "x"}, "weight of 'one' must be a number"),
                     ({"one": True}, "weight of 'one' must be a number"),
                     ({"one": float("nan")}, "weight of 'one' must be a number"),
                     ({"one": 0, "none": 0}, "every weight is 0")):
        with pytest.raises(ValueError, match=re.escape(why)):
            fs.decision_weights(bad)


def test_same_function_twice_occurs(train):
    twice = [ex for ex in train if len({c["function"]["name"] for c in ex.messages[1].get("tool_calls", [])}) == 1
             and len(ex.messages[1].get("tool_calls", [])) >= 2]
    assert len(twice) > 30


def test_required_values_are_in_the_request(train, heldout):
    for ex in train + heldout:
        text = ex.messages[0]["content"]
        offered = {t["function"]["name"]: t["function"] for t in ex.tools}
        for call in ex.messages[1].get("tool_calls", []):
            fn = call["function"]
            for key in offered[fn["name"]]["parameters"]["required"]:
                for value in _leaves(fn["arguments"][key]):
                    if isinstance(value, bool):
                        continue
                    shown = fs._num(value) if isinstance(value, (int, float)) else value
                    assert str(shown) in text, (key, value, text)


def test_families_are_disjoint(train, heldout):
    def names(items):
        return {t["function"]["name"] for ex in items for t in ex.tools}

    train_names, heldout_names = names(train), names(heldout)
    assert len(train_names) > 2000 and len(heldout_names) > 500
    assert not train_names & heldout_names
    assert {ex.metadata["domain"] for ex in heldout} == fs.HELDOUT_DOMAINS
    assert not {ex.metadata["domain"] for ex in train} & fs.HELDOUT_DOMAINS
    # no word of a held-out entity noun ever appears in a training function name
    heldout_nouns = {e.noun for d in fs.DOMAINS if d.key in fs.HELDOUT_DOMAINS for e in d.entities}
    train_words = {w for n in train_names for w in re.split(r"[._]", n)}
    assert not heldout_nouns & train_words
    assert not {v for a in fs.ACTIONS for v in a.heldout_verbs} & train_words


def test_space_is_large_and_varied():
    assert len(fs.DOMAINS) >= 20 and len({e.noun for d in fs.DOMAINS for e in d.entities}) == 2 * len(fs.DOMAINS)
    types = set()
    for d in fs.DOMAINS:
        for e in d.entities:
            for a in fs.ACTIONS:
                fn = fs.make_function(random.Random(0), d, e, a)
                for prop in fn.schema["function"]["parameters"]["properties"].values():
                    types.add(prop["type"] + ("/enum" if "enum" in prop else "")
                              + (f"/{prop['items']['type']}" if prop["type"] == "array" else ""))
                for p in fn.params:
                    if not p.required:
                        assert p.name in fn.description and "default" in p.schema["description"]
    assert types >= {"string", "integer", "number", "boolean", "string/enum", "array/string", "array/number",
                     "object"}


def test_none_offers_near_misses_from_the_same_domain(train):
    nones = [ex for ex in train if ex.metadata["decision"] == "none"]
    same = sum("that does not fit" in ex.messages[1]["reasoning"] for ex in nones)
    assert same > 0.7 * len(nones)
    for ex in nones:
        assert "tool_calls" not in ex.messages[1] and ex.messages[1]["content"]


def test_bad_arguments_raise():
    with pytest.raises(SourceError):
        fs.make_item(random.Random(0), family="nope")
    with pytest.raises(SourceError):
        fs.make_item(random.Random(0), decision="maybe")
    with pytest.raises(ValueError):
        list(fs.generate(-1, seed=0))
    dom = fs.DOMAINS[0]
    fn = fs.make_function(random.Random(0), dom, dom.entities[0], fs.BY_ACTION["get"])
    with pytest.raises(ValueError, match="invalid arguments"):
        fs._tool_call(fn, {"title": 3})
