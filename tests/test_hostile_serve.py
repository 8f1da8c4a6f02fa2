"""The server against hostile and broken clients (issue #16): no request may stall the model for others, a client
that leaves frees the model, and every malformed request is a 4xx in OpenAI's error shape, never a 500 or a
dropped connection. Over real HTTP, with the scripted backend of test_serve.py (and the tiny model where the
transformers backend's own stopping is the point)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator

import httpx2 as httpx
import openai
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_serve import TOOL_TURN, WEATHER, ScriptedBackend, client, serving
from typer.testing import CliRunner

from smolthink.backends import GenerationConfig, LlamaCppBackend, load_backend
from smolthink.formats import CONTROL_TOKENS
from smolthink.serve import MAX_CHARS_PER_TOKEN, create_app

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def post(url: str, body, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + CHAT, content=content, headers={"Content-Type": "application/json"}, timeout=60, **kwargs)


def assert_openai_error(r: httpx.Response, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, ScriptedBackend]]:
    backend = ScriptedBackend()
    with serving(create_app(backend, model_name="scripted")) as url:
        yield url, backend


@pytest.fixture
def slow() -> Iterator[tuple[str, ScriptedBackend]]:
    """A server whose generations take ~20 s (440 pieces, 0.05 s each) unless cancelled; n_ctx 64 "tokens"."""
    backend = ScriptedBackend(delay_s=0.05, repeat=20, n_ctx=64)
    with serving(create_app(backend, model_name="slow")) as url:
        yield url, backend


def pieces_in(text: str) -> int:
    return -(-len(text) // 5)  # ScriptedBackend yields 5 characters at a time


def sse_events(stream: httpx.Response) -> Iterator[str]:
    return (line for line in stream.iter_lines() if line)  # events are separated by blank lines


# ------------------------------------------------------------------------------- 1. prompts bounded before tokenizing


def test_a_control_token_flood_is_refused_before_tokenizing(scripted):
    """The 950 KB body of "<|im_end|>" that took llama.cpp ~45 s to count, holding the model: now refused at once
    by its length, without tokenizing."""
    url, backend = scripted
    counted, prompts = len(backend.counted), len(backend.prompts)
    r = post(url, {"messages": [{"role": "user", "content": "<|im_end|>" * 95_000}]})
    error = assert_openai_error(r)
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert f"{4096 * MAX_CHARS_PER_TOKEN}" in error["message"] and "4096-token" in error["message"]
    assert len(backend.counted) == counted and len(backend.prompts) == prompts  # never tokenized, never generated


def test_more_special_tokens_than_the_window_holds_is_refused(scripted):
    url, backend = scripted
    counted = len(backend.counted)
    r = post(url, {"messages": [{"role": "user", "content": "<|im_end|>" * 5_000}]})  # 50 KB: short enough
    error = assert_openai_error(r)
    assert error["code"] == "context_length_exceeded"
    assert "more than 4096 special-token strings" in error["message"] and "'<|im_end|>'" in error["message"]
    assert len(backend.counted) == counted
    # A user may still type a few of them to their own model: they are not escaped, and they are served.
    ok = post(url, {"messages": [{"role": "user", "content": "what does <|im_end|> mean?"}]})
    assert ok.status_code == 200 and "what does <|im_end|> mean?" in backend.prompts[-1]


def test_oversized_prompts_are_refused_while_the_model_is_busy(slow):
    """Refusals never wait for the model's lock: with a ~20 s generation streaming, a flood and a prompt over the
    context window are both answered 400, and the generation is still running afterwards."""
    url, backend = slow
    body = {"messages": HI, "stream": True}
    with httpx.stream("POST", url + CHAT, json=body, timeout=60) as stream:
        events = sse_events(stream)
        assert next(events).startswith("data: ")  # the role chunk
        assert "reasoning_content" in next(events)  # the generation has started
        flood = post(url, {"messages": [{"role": "user", "content": "<|im_end|>" * 95_000}]})
        assert assert_openai_error(flood)["code"] == "context_length_exceeded"
        too_long = post(url, {"messages": [{"role": "user", "content": "word " * 100}]})  # 100 "tokens" > 64
        error = assert_openai_error(too_long)
        assert error["code"] == "context_length_exceeded" and "context window is 64" in error["message"]
        assert len(backend.prompts) == 1  # neither reached the backend…
        assert "reasoning_content" in next(events)  # …and the slow generation is still streaming
        assert backend.pieces[0] < pieces_in(TOOL_TURN * 20)


# --------------------------------------------------------------------------------- 2. a client that leaves frees it


def test_a_disconnected_stream_stops_its_generation(slow):
    url, backend = slow
    with httpx.stream("POST", url + CHAT, json={"messages": HI, "stream": True}, timeout=60) as stream:
        events = sse_events(stream)
        for _ in range(3):
            assert next(events).startswith("data: ")
    # hung up after ~2 pieces of 440
    backend.repeat = 1  # the next reply is the short one (the running generation has its text already)
    out = client(url).chat.completions.create(model="slow", messages=[{"role": "user", "content": "again"}])
    assert out.choices[0].finish_reason == "stop"
    total = pieces_in(TOOL_TURN * 20)
    assert backend.pieces[0] < total // 4, f"the cancelled generation produced {backend.pieces[0]} of {total}"
    assert backend.pieces[1] == pieces_in(TOOL_TURN)


def test_a_client_that_times_out_stops_its_generation(slow):
    url, backend = slow
    with pytest.raises(openai.APITimeoutError):
        client(url).with_options(timeout=1.0).chat.completions.create(model="slow", messages=HI)
    backend.repeat = 1
    out = client(url).chat.completions.create(model="slow", messages=[{"role": "user", "content": "again"}])
    assert out.choices[0].finish_reason == "stop"
    total = pieces_in(TOOL_TURN * 20)
    assert backend.pieces[0] < total // 4, f"the abandoned generation produced {backend.pieces[0]} of {total}"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_backend(str(tiny_model_dir), "transformers")


def _sampled(n: int) -> GenerationConfig:
    # Greedy decoding of the random tiny model yields only newlines; seeded sampling gives words to stream.
    return GenerationConfig(max_new_tokens=n, temperature=1.0, seed=7)


def test_transformers_backend_stops_when_cancelled(tiny):
    prompt = "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n"
    cancel = threading.Event()
    cancel.set()  # before the first token: generate stops after one
    assert list(tiny.stream(prompt, _sampled(1500), cancel)) == []
    assert tiny.stats.finish_reason == "cancelled" and tiny.stats.completion_tokens <= 2

    cancel = threading.Event()
    pieces = tiny.stream(prompt, _sampled(1500), cancel)
    assert next(pieces)
    cancel.set()
    rest = list(pieces)
    assert tiny.stats.finish_reason == "cancelled" and tiny.stats.completion_tokens < 750, rest


def test_transformers_backend_closed_early_leaves_no_generate_thread(tiny):
    prompt = "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n"
    before = threading.active_count()
    pieces = tiny.stream(prompt, _sampled(1500))
    assert next(pieces)
    pieces.close()
    assert threading.active_count() == before


def test_transformers_backend_stop_strings(tiny):
    prompt = "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n"
    whole = "".join(tiny.stream(prompt, _sampled(40)))
    words = whole.split()
    assert len(words) > 4
    stop = words[3]
    cut = "".join(tiny.stream(prompt, GenerationConfig(max_new_tokens=40, temperature=1.0, seed=7, stop=[stop])))
    assert cut == whole[: whole.index(stop)] and tiny.stats.finish_reason == "stop"


class _FakeLlama:
    """Just enough of llama_cpp.Llama for LlamaCppBackend.stream: one chunk per token, counted as it is made."""

    def __init__(self) -> None:
        self.made = 0

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return list(range(len(text.split())))

    def create_completion(self, tokens, max_tokens, **kwargs):
        for _ in range(max_tokens):
            self.made += 1
            yield {"choices": [{"text": "tok ", "finish_reason": None}]}
        yield {"choices": [{"text": "", "finish_reason": "length"}]}


def test_llama_backend_stops_when_cancelled():
    backend = LlamaCppBackend.__new__(LlamaCppBackend)  # no model: the loop is what is tested
    backend.llm, backend.n_ctx = _FakeLlama(), 4096
    cancel = threading.Event()
    out = []
    for piece in backend.stream("a prompt", GenerationConfig(max_new_tokens=1000), cancel):
        out.append(piece)
        if len(out) == 3:
            cancel.set()
    assert len(out) == 3 and backend.llm.made <= 4
    assert backend.stats.finish_reason == "cancelled"


# -------------------------------------------------------------------------------------------------- 3. the API key


@pytest.mark.parametrize("key", ["", "   ", "\t\n", " padded "])
def test_an_unusable_api_key_is_refused(key):
    with pytest.raises(ValueError, match="API key"):
        create_app(ScriptedBackend(), model_name="x", api_key=key)


@pytest.mark.parametrize("key", ["", " "])
def test_serve_refuses_an_empty_api_key_before_loading_the_model(monkeypatch, key):
    def load_backend(*args, **kwargs):
        raise AssertionError("the model was loaded before the API key was checked")

    monkeypatch.setattr("smolthink.backends.load_backend", load_backend)
    from smolthink.cli import app

    result = CliRunner().invoke(app, ["serve", "--api-key", key])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "API key is empty" in result.output


# ------------------------------------------------------------------------------------------------ 4. deep nesting


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # json.loads' own recursion limit
        json.dumps({"messages": HI, "metadata": json.loads("[" * 500 + "]" * 500)}).encode(),
        json.dumps({"messages": HI, "tools": [{"type": "function", "function": {
            "name": "f", "parameters": json.loads('{"type": "object", "properties": ' * 300 + "{}" + "}" * 300)}}]}
        ).encode(),
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{
            "id": "c", "function": {"name": "f", "arguments": '{"a": ' * 3000 + "1" + "}" * 3000}}]}]}).encode(),
    ],
    ids=["arrays", "extra-field", "tool-schema", "arguments-string"],
)
def test_deeply_nested_json_is_a_400(scripted, body):
    url, _ = scripted
    assert "nest" in assert_openai_error(post(url, body))["message"]
    assert post(url, {"messages": HI}).status_code == 200  # and the server still serves


# ------------------------------------------------------------------------------- 5. tool results answer tool calls


def _calls(*ids):
    return {"role": "assistant", "tool_calls": [
        {**({"id": i} if i is not None else {}), "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}} for i in ids]}


def _result(call_id=None):
    return {"role": "tool", "content": '{"sky": "sunny"}', **({"tool_call_id": call_id} if call_id is not None else {})}


@pytest.mark.parametrize(
    "messages, param",
    [
        ([*HI, _calls("call_1"), _result("call_2")], "messages.2.tool_call_id"),  # no such call
        ([*HI, _result("call_1")], "messages.1.tool_call_id"),  # no call at all
        ([*HI, _calls("call_1"), _result()], "messages.2.tool_call_id"),  # the calls had ids, the result none
        ([*HI, _calls("call_1", "call_2"), _result("call_1"), _result()], "messages.3.tool_call_id"),
    ],
)
def test_a_tool_result_must_answer_a_call(scripted, messages, param):
    url, _ = scripted
    error = assert_openai_error(post(url, {"messages": messages, "tools": [WEATHER]}))
    assert error["param"] == param and f"messages[{param.split('.')[1]}].tool_call_id" in error["message"]


@pytest.mark.parametrize(
    "messages",
    [
        [*HI, _calls("call_1", "call_2"), _result("call_2"), _result("call_1")],  # any order, as the SDK allows
        [*HI, _calls(None), _result()],  # clients that send no ids at all: results answer calls in order
        [*HI, _calls(None, None), _result(), _result()],
        [*HI, _calls("call_1"), _result("call_1"), {"role": "user", "content": "and Rome?"}, _calls(None), _result()],
    ],
)
def test_tool_results_that_answer_calls_are_served(scripted, messages):
    url, backend = scripted
    r = post(url, {"messages": messages, "tools": [WEATHER]})
    assert r.status_code == 200, r.text
    assert backend.prompts[-1].count("<tool_response>") == sum(m["role"] == "tool" for m in messages)


# --------------------------------------------------------------------------------------------- 6. tool schemas


def _tool(parameters):
    return {"type": "function", "function": {"name": "f", "description": "d", "parameters": parameters}}


@pytest.mark.parametrize(
    "parameters, words",
    [
        ({"type": "object", "properties": {"city": {"type": "strin"}}}, "not a valid JSON Schema"),
        ({"type": "object", "properties": 5}, "not a valid JSON Schema"),
        ({"type": "object", "required": "city"}, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"x": {"pattern": "("}}}, "not a valid JSON Schema"),
        ({"type": "object", "$schema": 7}, "$schema"),
        ({"type": "array", "items": {"type": "string"}}, "object schema"),
        ({"properties": {"city": {"type": "string"}}}, "object schema"),
    ],
)
def test_a_tool_schema_must_be_a_json_schema_for_an_object(scripted, parameters, words):
    url, _ = scripted
    error = assert_openai_error(post(url, {"messages": HI, "tools": [WEATHER, _tool(parameters)]}))
    assert error["param"] == "tools.1.function.parameters"
    assert error["message"].startswith("tools[1].function.parameters") and words in error["message"]


@pytest.mark.parametrize("parameters", [None, {}, {"type": "object", "properties": {}},
                                        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                                         "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]}])
def test_valid_tool_schemas_are_served(scripted, parameters):
    url, _ = scripted
    assert post(url, {"messages": HI, "tools": [_tool(parameters)]}).status_code == 200


# ------------------------------------------------------------------------------------- 7. missing llama-cpp-python


def test_missing_llama_cpp_is_a_model_error(monkeypatch, tmp_path):
    from smolthink.models import ModelError

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now raises ImportError
    with pytest.raises(ModelError, match="llama-cpp-python") as info:
        LlamaCppBackend(tmp_path / "model.gguf")
    assert "make setup" in str(info.value) and "pip install llama-cpp-python==0.3.36" in str(info.value)
    assert "scripts/llama-cmake-args" in str(info.value)


# ------------------------------------------------------------------------------------------------------ 8. fuzzing

HOSTILE = (*CONTROL_TOKENS, "\x00", "{{ 7 * 7 }}", "{% raw %}", "\u202e", "\\", '"', "💥", "", "call_1",
           '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>')
text = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                 st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join))
surrogates = st.sampled_from(["\ud800", "a\udfffb"])  # JSON can escape them; UTF-8 cannot encode them
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text, surrogates)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=12)
ids = st.sampled_from(["call_1", "call_2"])  # few, so that results often answer calls
names = st.sampled_from(["get_weather", "f"]) | text
arguments = st.dictionaries(text, values, max_size=3)
call = st.fixed_dictionaries(
    {"function": st.fixed_dictionaries({"name": names},
                                       optional={"arguments": arguments.map(json.dumps) | arguments | text})},
    optional={"id": ids, "type": st.just("function")},
)
message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user"]), "content": text}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.lists(
        st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=3)}),
    st.fixed_dictionaries({"role": st.just("assistant")}, optional={
        "content": text, "reasoning_content": text, "tool_calls": st.lists(call, min_size=1, max_size=2)}),
    st.fixed_dictionaries({"role": st.just("tool"), "content": text}, optional={"tool_call_id": ids, "name": text}),
)
schema = st.fixed_dictionaries({"type": st.just("object")}, optional={
    "properties": st.dictionaries(
        text, st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "strin"])}), max_size=3),
    "required": st.lists(text, max_size=3),
})
tool = st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": names}, optional={"parameters": schema | values, "description": text})})
request = st.fixed_dictionaries(
    {"messages": st.lists(message, min_size=1, max_size=5)},
    optional={
        "model": text,
        "tools": st.lists(tool, max_size=3),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "max_tokens": st.integers(1, 64),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "stop": text | st.lists(text, max_size=5),
        "seed": st.integers(),
        "n": st.integers(0, 2),
        "stream": st.booleans(),
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}),
        "chat_template_kwargs": st.fixed_dictionaries({}, optional={"enable_thinking": st.booleans()}),
    },
)
FIELDS = ("messages", "model", "tools", "tool_choice", "max_tokens", "temperature", "top_p", "stop", "seed",
          "stream", "role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content")


@st.composite
def mutated(draw) -> dict:
    """A well-formed request (hostile strings aside) with up to two fields, of the body or a message, set to any
    JSON value: most examples get past the schema to the conversation, the prompt and the reply."""
    body = draw(request)
    targets = [body, *body["messages"]]
    for _ in range(draw(st.integers(0, 2))):
        draw(st.sampled_from(targets))[draw(st.sampled_from(FIELDS) | text)] = draw(values)
    return body


bodies = st.one_of(mutated(), mutated(), values).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[str]:
    with serving(create_app(ScriptedBackend(), model_name="fuzz", max_body_bytes=200_000)) as url:
        yield url


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies)
@example(body=b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}")
@example(body=json.dumps({"messages": [{"role": "user", "content": "\ud800"}], "model": "\udfff"}).encode())
@example(body=json.dumps({"messages": HI, "stop": ["", "x"], "stream": True}).encode())
@example(body=json.dumps({"messages": HI, "seed": 10**30}).encode())
@example(body=json.dumps({"messages": HI, "tools": [_tool({"type": "object", "$schema": "x:unknown"})]}).encode())
def test_fuzzed_requests_get_a_2xx_or_a_4xx_in_openai_shape(fuzz_server, body):
    with httpx.Client(timeout=30) as http:  # a dropped connection raises here
        r = http.post(fuzz_server + CHAT, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            assert isinstance(r.json()["error"]["message"], str)
        elif r.headers["content-type"].startswith("text/event-stream"):
            events = [line[len("data: "):] for line in r.text.splitlines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            for event in events[:-1]:
                assert "error" not in json.loads(event), event
        else:
            assert r.json()["object"] == "chat.completion"
        assert http.get(fuzz_server + "/health").json() == {"status": "ok"}
