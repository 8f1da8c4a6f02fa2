"""search_docs: deterministic, and every tool message is what the real tool returns over the item's own corpus."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from smolthink.data.sources import search_docs as sd
from smolthink.eval.search_qa import contains_fact, says_not_found
from smolthink.formats import neutralize_control_tokens, validate_conversation
from smolthink.tools import tool, validate_arguments
from smolthink.tools.local_search import LocalSearch
from smolthink.tools.web_search import web_search

N = 160


@pytest.fixture(scope="module")
def items():
    return [sd.make_item(random.Random(f"11:{i}")) for i in range(N)]


def _write(folder, files):
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")


def test_deterministic_and_item_i_from_its_own_rng():
    a = [e.to_row() for e in sd.generate(12, seed=5)]
    assert a == [e.to_row() for e in sd.generate(12, seed=5)]
    messages, tools, _extra = sd.make_item(random.Random("5:7"))
    assert (a[7]["messages"], a[7]["tools"]) == (messages, tools)
    assert a != [e.to_row() for e in sd.generate(12, seed=6)]
    with pytest.raises(ValueError):
        sd.make_item(random.Random(0), pool="nope")


def test_corpus_shape(items):
    assert len(sd.ENTITY_TYPES) >= 15
    for _messages, _tools, extra in items:
        assert 2 <= len(extra["corpus"]) <= 7
        for text in extra["corpus"].values():
            assert 80 <= len(text.split()) <= 300
    shares = Counter((e["tool"], e["answerable"]) for _m, _t, e in items)
    assert 0.15 <= sum(v for (_t, ok), v in shares.items() if not ok) / N <= 0.35
    assert 0.07 <= sum(v for (t, _ok), v in shares.items() if t == "web_search") / N <= 0.25
    assert len({e["entity_type"] for _m, _t, e in items}) >= 12


def test_local_tool_message_is_the_real_search(items, tmp_path):
    local = [(i, it) for i, it in enumerate(items) if it[2]["tool"] == "local_search"]
    assert len(local) > N // 2
    for i, (messages, tools, extra) in local:
        folder = tmp_path / str(i)
        folder.mkdir()
        _write(folder, extra["corpus"])
        real = LocalSearch(folder).as_tool()
        call = messages[1]["tool_calls"][0]["function"]
        assert call == {"name": "local_search", "arguments": {"query": extra["query"]}}
        assert messages[2] == {"role": "tool", "name": "local_search",
                               "content": neutralize_control_tokens(real.fn(**call["arguments"]))}
        offered = {t["function"]["name"]: t for t in tools}
        assert offered["local_search"] == real.schema  # the schema chat and serve offer


def test_calls_validate_and_conversations_are_valid(items):
    web_schema = tool(web_search).schema
    for messages, tools, extra in items:
        assert validate_conversation(messages, tools) == []
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
        offered = {t["function"]["name"]: t for t in tools}
        (call,) = messages[1]["tool_calls"]
        name, args = call["function"]["name"], call["function"]["arguments"]
        assert name == extra["tool"] and name in offered
        assert validate_arguments(offered[name], args) is None
        assert "web_search" not in offered or offered["web_search"] == web_schema
        query = next(iter(args.values()))
        assert set(query.lower().split()) <= {w.lower() for w in sd.key_words(extra["question"])}
        assert extra["entity"].lower().split()[0] in query.lower()


def test_answers_quote_the_fact_or_say_it_is_missing(items):
    for messages, _tools, extra in items:
        results, answer = messages[2]["content"], messages[3]["content"]
        fact = extra["fact"]
        if extra["answerable"]:
            assert fact in results and contains_fact(answer, fact)
            assert not says_not_found(answer)
        else:
            assert not contains_fact(results, fact)
            assert not any(contains_fact(text, fact) for text in extra["corpus"].values())
            assert says_not_found(answer) and not contains_fact(answer, fact)
            assert not re.search(r"\d", answer)  # nothing invented


def test_web_results_have_the_web_search_format(items):
    web = [it for it in items if it[2]["tool"] == "web_search"]
    assert web
    for messages, _tools, _extra in web:
        blocks = messages[2]["content"].split("\n\n")
        assert 1 <= len(blocks) <= 3
        for n, block in enumerate(blocks, start=1):
            head, url, snippet = block.split("\n")
            assert head.startswith(f"[{n}] ") and url.startswith("https://") and snippet


def test_name_pools_are_disjoint():
    for pools in sd.NAME_POOLS.values():
        assert pools["train"] and pools["eval"] and not set(pools["train"]) & set(pools["eval"])
    train_words = set(sd.NAME_POOLS["entity"]["train"])
    for i in range(30):
        _m, _t, extra = sd.make_item(random.Random(f"7300000:{i}"), pool="eval", web_share=0.0)
        assert extra["tool"] == "local_search"
        headings = [text.splitlines()[0].lstrip("# ") for text in extra["corpus"].values()]
        assert not {h.split()[0] for h in headings} & train_words


def test_unoffered_items_check_the_list_and_call_nothing():
    local = sd.search_tool_schema()["function"]["name"]
    for i in range(60):
        messages, tools, extra = sd.make_unoffered_item(random.Random(f"13:{i}"))
        assert validate_conversation(messages, tools) == []
        assert [m["role"] for m in messages] == ["user", "assistant"] and "tool_calls" not in messages[1]
        names = [t["function"]["name"] for t in tools]
        assert 1 <= len(names) <= 4 and not {local, "web_search"} & set(names)
        for name in names:  # every offered tool gets its verdict, and none fits
            assert f"{name} can " in messages[1]["reasoning"]
        assert "that fits" not in messages[1]["reasoning"]
        answer = messages[1]["content"]
        assert extra["entity"] in answer and not contains_fact(answer, extra["fact"])
        assert not re.search(r"\d", answer)
    a = sd.make_unoffered_item(random.Random("13:5"))
    assert a == sd.make_unoffered_item(random.Random("13:5"))

