"""Constrained decoding on the transformers backend: tool_choice "required" / a named function and response_format
json_schema, enforced by xgrammar running the server's GBNF grammar (the one llama.cpp gets) as a logits
processor. The tiny random-weight model writes gibberish, so a call that parses and validates comes from the
constraint alone; the unconstrained control requests show the same model does not produce one by itself."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from jsonschema import validate

from smolthink.backends import GenerationConfig, TransformersBackend, load_backend
from smolthink.formats import parse_assistant
from smolthink.serve import ChatRequest, create_app, reply_grammar
from smolthink.tools import validate_arguments
from test_serve import ANSWER_SCHEMA, TIME, WEATHER, client, serving

# ANSWER_SCHEMA with a bounded string: gibberish weights would fill a free one until max_tokens.
SHORT_ANSWER = {**ANSWER_SCHEMA, "properties": {**ANSWER_SCHEMA["properties"],
                                                "city": {"type": "string", "maxLength": 12}}}

TOOLS = [WEATHER, TIME]
NO_THINK = {"chat_template_kwargs": {"enable_thinking": False}}
MAX_TOKENS = 128  # a call takes 30-60 tokens: the gibberish model spends some on whitespace and long integers


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir) -> TransformersBackend:
    return load_backend(str(tiny_model_dir), "transformers")


@pytest.fixture(scope="module")
def url(tiny_backend) -> Iterator[str]:
    with serving(create_app(tiny_backend, model_name="tiny")) as base:
        yield base


def _ask(url: str, **fields):
    return client(url, key="none").chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        max_tokens=MAX_TOKENS, temperature=0, extra_body=NO_THINK, **fields)


def _valid(call) -> dict:
    (tool,) = [t for t in TOOLS if t["function"]["name"] == call.function.name]
    arguments = json.loads(call.function.arguments)
    assert validate_arguments(tool, arguments) is None, arguments
    validate(arguments, tool["function"]["parameters"])
    return arguments


def test_required_tool_choice_makes_gibberish_weights_call_validly(url):
    out = _ask(url, tools=TOOLS, tool_choice="required")
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    (call,) = choice.message.tool_calls
    _valid(call)
    assert not (choice.message.model_extra or {}).get("warnings")
    # Streamed: the same call (greedy), in delta form.
    chunks = list(client(url, key="none").chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "What's the weather in Paris?"}], max_tokens=MAX_TOKENS,
        temperature=0, extra_body=NO_THINK, tools=TOOLS, tool_choice="required", stream=True))
    streamed = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert streamed[0].function.name == call.function.name
    assert "".join(tc.function.arguments or "" for tc in streamed) == call.function.arguments
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"


def test_named_tool_choice_calls_that_function(url):
    # get_weather's city is a free string, which gibberish weights fill until max_tokens (cut: a malformed call,
    # on llama.cpp too); get_time's arguments are bounded, so the call always completes.
    out = _ask(url, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}})
    (call,) = out.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    arguments = _valid(call)
    assert arguments["tz"] in ("UTC", "CET", "PST") and isinstance(arguments["hours24"], bool)


def test_response_format_json_schema_is_enforced(url):
    out = _ask(url, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": SHORT_ANSWER}})
    assert out.choices[0].finish_reason == "stop"
    validate(json.loads(out.choices[0].message.content), SHORT_ANSWER)


def test_without_the_constraint_the_tiny_model_neither_calls_nor_writes_json(url):
    """The control: the passing tests above are the constraint's doing, not the model's."""
    auto = _ask(url, tools=TOOLS, tool_choice="auto")
    assert not auto.choices[0].message.tool_calls and auto.choices[0].finish_reason != "tool_calls"
    text = _ask(url).choices[0].message.content or ""
    with pytest.raises(ValueError):  # json.JSONDecodeError is a ValueError
        json.loads(text)


def _grammar(prefix: str, **fields) -> str:
    req = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, **fields})
    grammar = reply_grammar(req, TOOLS, prefix)
    assert grammar is not None
    return grammar


def _accepts(backend: TransformersBackend, grammar: str, text: str) -> bool:
    import xgrammar as xgr

    matcher = xgr.GrammarMatcher(backend._compile(grammar))
    return matcher.accept_string(text) and matcher.is_terminated() is False and matcher.accept_token(
        backend._eos_ids()[0])


CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_the_transformers_grammar_is_the_llama_one_thinking_included(tiny_backend):
    """Same text shape as on llama.cpp: the call block alone, or after a reasoning block when the prompt pre-fills
    <think> (the grammar is the same string, which xgrammar reads as EBNF)."""
    plain = _grammar("", tool_choice="required")
    assert _accepts(tiny_backend, plain, CALL)
    assert not _accepts(tiny_backend, plain, "Sure! " + CALL)  # nothing before the call without thinking
    assert not _accepts(tiny_backend, plain, '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>')
    assert not _accepts(tiny_backend, plain, CALL + "\n" + CALL)  # one call unless parallel_tool_calls is true
    assert _accepts(tiny_backend, _grammar("", tool_choice="required", parallel_tool_calls=True), CALL + "\n" + CALL)
    think = _grammar("<think>\n", tool_choice="required")
    assert _accepts(tiny_backend, think, "Paris, so get_weather.\n</think>\n\n" + CALL)
    assert not _accepts(tiny_backend, think, CALL)  # the pre-filled <think> must close first
    # json_object: any object (its free keys are gibberish's to fill until max_tokens, so it is not generated here)
    json_object = _grammar("", response_format={"type": "json_object"})
    assert _accepts(tiny_backend, json_object, '{"a": [1, "b"]}') and not _accepts(tiny_backend, json_object, "[1]")
    assert parse_assistant("<think>\nParis.\n</think>\n\n" + CALL).tool_calls[0]["function"]["name"] == "get_weather"


def test_thinking_request_reasons_freely_before_the_constrained_call(url):
    out = client(url, key="none").chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0, tools=TOOLS,
        tool_choice="required", extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    assert out.choices[0].finish_reason == "length"  # gibberish reasoning that never closes: cut, not refused


def test_batch_generation_is_constrained_per_row(tiny_backend):
    grammar = _grammar("", tool_choice={"type": "function", "function": {"name": "get_time"}})
    prompts = ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
               "<|im_start|>user\nWhat time is it in Berlin, please?<|im_end|>\n<|im_start|>assistant\n"]
    for text, finish, _ in tiny_backend.generate_batch(prompts, GenerationConfig(max_new_tokens=MAX_TOKENS,
                                                                                 grammar=grammar)):
        assert finish == "stop", text
        (call,) = parse_assistant(text).tool_calls
        assert call["function"]["name"] == "get_time"
        assert validate_arguments(TIME, call["function"]["arguments"]) is None


def test_a_grammar_xgrammar_cannot_take_is_a_value_error(tiny_backend):
    with pytest.raises(ValueError, match="xgrammar rejected it"):
        tiny_backend.check_grammar('root ::= "a" undefined-rule')


def test_without_xgrammar_the_request_is_a_400_naming_the_extra(url, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgrammar", None)  # import xgrammar now raises ImportError
    r = httpx.post(url + "/v1/chat/completions", timeout=60, json={
        "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, "tool_choice": "required", **NO_THINK})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "xgrammar" in message and "smolthink[serve]" in message and "--backend llama" in message
