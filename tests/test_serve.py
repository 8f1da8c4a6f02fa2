"""The OpenAI-compatible server, tested over real HTTP: uvicorn in a thread on 127.0.0.1, the official `openai`
client, the tiny random model for the real generation path and a scripted backend for exact tool-call output."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx2 as httpx  # this environment ships httpx under the name httpx2 (the openai client uses it too)
import openai
import pytest
import uvicorn

from smolthink.backends import BatchedLlamaBackend, GenerationConfig, GenerationStats, load_backend
from smolthink.formats import CONTROL_TOKENS
from smolthink.models import embedded_f16_gguf
from smolthink.serve import create_app

KEY = "test-key"
TOOL_TURN = 'thinking\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
ANSWER_TURN = "the tool answered\n</think>\n\nIt is sunny in Paris."
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class ScriptedBackend:
    """Replies with fixed text in small pieces and records every prompt: the tool call first, then (once a tool
    result is in the prompt) an answer. `repeat` makes the reply that many times longer (with `delay_s` per piece,
    a slow generation); `pieces` records how many pieces each call produced before it ended or was cancelled."""

    name = "scripted"
    template = None
    tool_style = "xml"
    special_tokens = CONTROL_TOKENS
    supports_grammar = True  # takes the grammar (recorded in `gens`), does not follow it

    def __init__(self, delay_s: float = 0.0, *, repeat: int = 1, n_ctx: int = 4096):
        self.prompts: list[str] = []
        self.pieces: list[int] = []
        self.counted: list[str] = []  # prompts passed to count_tokens
        self.delay_s = delay_s
        self.repeat = repeat
        self.n_ctx = n_ctx
        self.stats = GenerationStats()
        self.gens: list[GenerationConfig] = []  # the sampling settings of every call
        self.script: str | None = None  # set: the reply to every prompt, instead of the tool call / answer


    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        return len(text.split())

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        self.prompts.append(prompt)
        self.gens.append(gen)
        self.pieces.append(0)
        text = self.script if self.script is not None else (
            ANSWER_TURN if "<tool_response>" in prompt else TOOL_TURN) * self.repeat
        self.stats = GenerationStats(prompt_tokens=len(prompt.split()), finish_reason="stop")
        for i in range(0, len(text), 5):
            if cancel is not None and cancel.is_set():
                self.stats.finish_reason = "cancelled"
                return
            if self.delay_s:
                time.sleep(self.delay_s)
            self.stats.completion_tokens += 1
            self.pieces[-1] += 1
            yield text[i : i + 5]


@contextmanager
def serving(app) -> Iterator[str]:
    """Run `app` on a free 127.0.0.1 port in a background thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def tiny_url(tiny_model_dir) -> Iterator[str]:
    backend = load_backend(str(tiny_model_dir), "transformers")
    with serving(create_app(backend, model_name="tiny", api_key=KEY, max_tokens_cap=64)) as url:
        yield url


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, ScriptedBackend]]:
    backend = ScriptedBackend()
    with serving(create_app(backend, model_name="scripted", max_body_bytes=20_000)) as url:
        yield url, backend


def client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)


def extra(obj, name: str):
    return (obj.model_extra or {}).get(name)


# ------------------------------------------------------------------------------------------- tiny model


def test_completion_on_tiny_model(tiny_url):
    out = client(tiny_url).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hi!"}], max_tokens=8, temperature=0
    )
    assert out.object == "chat.completion" and out.id.startswith("chatcmpl-")
    assert out.choices[0].finish_reason in ("stop", "length")
    assert out.choices[0].message.role == "assistant"
    assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 8
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


@pytest.mark.parametrize("thinking", [True, False])
def test_streaming_matches_non_streaming(tiny_url, thinking):
    kwargs = dict(
        model="tiny",
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=24,
        # Greedy decoding of the random tiny model yields only newlines; seeded sampling is just as
        # deterministic and gives text worth routing.
        temperature=1.0,
        seed=7,
        extra_body={"chat_template_kwargs": {"enable_thinking": thinking}},
    )
    c = client(tiny_url)
    whole = c.chat.completions.create(**kwargs).choices[0]
    chunks = list(c.chat.completions.create(stream=True, **kwargs))
    assert len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    reasoning = "".join(extra(ch.choices[0].delta, "reasoning_content") or "" for ch in chunks)
    assert content == (whole.message.content or "")
    assert reasoning == (extra(whole.message, "reasoning_content") or "")
    assert content or reasoning  # the gibberish went somewhere
    assert chunks[-1].choices[0].finish_reason == whole.finish_reason


def test_models_and_auth(tiny_url):
    assert [m.id for m in client(tiny_url).models.list()] == ["tiny"]
    for key in ("wrong", ""):
        with pytest.raises(openai.AuthenticationError):
            client(tiny_url, key=key or "x").chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2
            )
    no_key = httpx.post(tiny_url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "authentication_error"
    assert httpx.get(tiny_url + "/v1/models").status_code == 401
    assert httpx.get(tiny_url + "/health").json() == {"status": "ok"}
    ok = httpx.post(
        tiny_url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] > 0


def test_concurrent_load(tiny_url):
    c = client(tiny_url)

    def one(i: int):
        out = c.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": f"Count to {i}."}], max_tokens=4, temperature=0
        )
        return out.choices[0].finish_reason, out.usage.completion_tokens

    start = time.time()
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(one, range(64), timeout=120))
    assert len(results) == 64
    assert all(reason in ("stop", "length") and 0 < n <= 4 for reason, n in results)
    assert time.time() - start < 120


# ---------------------------------------------------------------------------------------- scripted tools


def test_tool_call_round_trip(scripted):
    url, backend = scripted
    c = client(url, key="unused")
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert extra(choice.message, "reasoning_content") == "thinking"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str) and json.loads(call.function.arguments) == {"city": "Paris"}
    assert '"name": "get_weather"' in backend.prompts[-1]  # the tool schema reached the prompt

    messages += [
        {"role": "assistant", "content": None, "reasoning_content": "thinking",
         "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'},
    ]
    second = c.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].message.tool_calls is None
    prompt = backend.prompts[-1]
    assert '<tool_response>\n{"sky": "sunny"}\n</tool_response>' in prompt
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt  # the earlier call, re-rendered


def test_tool_call_streaming(scripted):
    url, _ = scripted
    chunks = list(client(url).chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER], stream=True
    ))
    deltas = [ch.choices[0].delta for ch in chunks]
    assert "".join(extra(d, "reasoning_content") or "" for d in deltas) == "thinking"
    assert "".join(d.content or "" for d in deltas) == ""  # the raw <tool_call> text is held back
    assert "".join(extra(d, "reasoning") or "" for d in deltas) == "thinking"  # vLLM's name for it
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    # OpenAI's delta shape: the id, type and name first, then the arguments in fragments
    first, *rest = calls
    assert first.index == 0 and first.id.startswith("call_") and first.type == "function"
    assert first.function.name == "get_weather" and first.function.arguments == ""
    assert rest and all(tc.index == 0 and tc.id is None and tc.function.name is None for tc in rest)
    assert json.loads("".join(tc.function.arguments for tc in rest)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_and_thinking_switch(scripted):
    url, backend = scripted
    c = client(url)
    c.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER], tool_choice="none",
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    assert "get_weather" not in backend.prompts[-1]
    assert backend.prompts[-1].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    c.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}])
    assert backend.prompts[-1].endswith("<|im_start|>assistant\n<think>\n")
    c.chat.completions.create(  # "/think" in the system message wins over enable_thinking, as in the template
        model="scripted",
        messages=[{"role": "system", "content": "Be brief. /think"}, {"role": "user", "content": "hi"}],
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    assert backend.prompts[-1].endswith("<|im_start|>assistant\n<think>\n")


@pytest.mark.parametrize(
    "body, status, param",
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (json.dumps({"model": "x"}).encode(), 400, "messages"),
        (json.dumps({"messages": []}).encode(), 400, "messages"),
        (json.dumps({"messages": "hi"}).encode(), 400, "messages"),
        (json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}).encode(), 400, "messages.0.role"),
        (json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(), 400, "messages.0.content.str"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}).encode(), 400, "max_tokens"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}).encode(), 400,
         "temperature"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"}).encode(), 400,
         "tool_choice"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"},
                                  {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                                      "name": "f", "arguments": "{broken"}}]}]}).encode(), 400, "messages.1.tool_calls"),
        (json.dumps({"messages": [{"role": "user", "content": "x" * 30_000}]}).encode(), 413, None),
    ],
)
def test_bad_requests_get_openai_errors(scripted, body, status, param):
    url, _ = scripted
    r = httpx.post(url + "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param:
        assert error["param"] == param
    # …and the server still serves.
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    ok = client(url).chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}])
    assert ok.choices[0].finish_reason == "stop"  # no tools offered: the call is text


def test_unknown_route_is_a_json_404(scripted):
    url, _ = scripted
    r = httpx.get(url + "/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_disconnect_does_not_wedge_the_lock():
    backend = ScriptedBackend(delay_s=0.02)  # ~0.5 s per reply
    with serving(create_app(backend, model_name="slow")) as url:
        body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as r:
            lines = (line for line in r.iter_lines() if line)
            assert next(lines).startswith("data: ")  # the role chunk…
            assert "reasoning_content" in next(lines)  # …and generated text: hang up mid-generation
        out = client(url).chat.completions.create(model="slow", messages=[{"role": "user", "content": "again"}],
                                                  timeout=10)
        assert out.choices[0].finish_reason == "stop"
        assert len(backend.prompts) == 2


# ------------------------------------------------------------------------------- replies agent frameworks can use


@contextmanager
def script(backend: ScriptedBackend, text: str) -> Iterator[None]:
    backend.script = text
    try:
        yield
    finally:
        backend.script = None


def both(url: str, **kwargs) -> tuple[dict, dict, str, str]:
    """The whole reply and the streamed one, assembled: (message, streamed message, finish, streamed finish)."""
    body = {"messages": [{"role": "user", "content": "hi"}], **kwargs}
    whole = httpx.post(url + "/v1/chat/completions", json=body, timeout=60).json()["choices"][0]
    streamed: dict = {"content": "", "reasoning_content": "", "warnings": [], "tool_calls": {}}
    finish = None
    with httpx.stream("POST", url + "/v1/chat/completions", json={**body, "stream": True}, timeout=60) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[6:])["choices"][0]
            delta, finish = choice["delta"], choice["finish_reason"] or finish
            for key in ("content", "reasoning_content"):
                streamed[key] += delta.get(key) or ""
            streamed["warnings"] += delta.get("warnings", [])
            for tc in delta.get("tool_calls", []):
                got = streamed["tool_calls"].setdefault(tc["index"], {"name": None, "arguments": ""})
                got["name"] = got["name"] or tc["function"].get("name")
                got["arguments"] += tc["function"]["arguments"]
    return whole["message"], streamed, whole["finish_reason"], finish


def test_a_malformed_tool_call_comes_back_as_content(scripted):
    url, backend = scripted
    bad = 'hmm\n</think>\n\nLet me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>'
    with script(backend, bad):
        message, streamed, finish, streamed_finish = both(url, tools=[WEATHER])
    assert finish == streamed_finish == "stop"
    assert "tool_calls" not in message
    assert message["content"] == streamed["content"]
    assert message["content"].startswith("Let me look.\n<tool_call>") and '"city": }' in message["content"]
    assert message["warnings"] and message["warnings"] == streamed["warnings"]
    assert "malformed tool call" in message["warnings"][0]


def test_a_call_to_a_function_not_offered_comes_back_as_content(scripted):
    url, backend = scripted
    call = '</think>\n\n<tool_call>\n{"name": "launch", "arguments": {}}\n</tool_call>'
    with script(backend, call):
        message, streamed, finish, _ = both(url, tools=[WEATHER])
    assert finish == "stop" and "tool_calls" not in message and '"launch"' in message["content"]
    assert "not among the offered tools" in message["warnings"][0]


def test_an_unterminated_think_comes_back_as_content(scripted):
    """The untuned model never closes a pre-filled <think>: its text is the answer, flagged, never content null."""
    url, backend = scripted
    with script(backend, "The answer is 4."):
        message, streamed, finish, _ = both(url, chat_template_kwargs={"enable_thinking": True})
    assert message["content"] == streamed["content"] == "The answer is 4."
    assert message["reasoning_content"] == message["reasoning"] == "The answer is 4."
    assert "unterminated <think>" in message["warnings"][0] and finish == "stop"


def test_parallel_tool_calls_false_keeps_one_call(scripted):
    url, backend = scripted
    two = ('</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
           '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')
    with script(backend, two):
        message, streamed, *_ = both(url, tools=[WEATHER])
        assert [json.loads(c["function"]["arguments"])["city"] for c in message["tool_calls"]] == ["Paris", "Rome"]
        message, streamed, finish, _ = both(url, tools=[WEATHER], parallel_tool_calls=False)
    assert finish == "tool_calls" and len(message["tool_calls"]) == 1 and len(streamed["tool_calls"]) == 1
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert "dropped" in message["warnings"][0]


@pytest.mark.parametrize("cut", range(1, 40, 3))
def test_streamed_and_whole_replies_agree_however_the_text_is_cut(cut):
    from smolthink.serve import Reply, merge_deltas

    text = (TOOL_TURN + '\nok <tool_call>{"name": "nope"}</tool_call> and <tool_call>{"name": "get_weather", '
            '"arguments": {"city": "Oslo"}}</tool_call> <tool_call>{"name": ')
    whole = Reply("<think>\n", {"get_weather"})
    expected = merge_deltas(whole.feed(text) + whole.finish())
    pieces = Reply("<think>\n", {"get_weather"})
    deltas = [d for i in range(0, len(text), cut) for d in pieces.feed(text[i : i + cut])] + pieces.finish()
    got = merge_deltas(deltas)
    for message in (got, expected):  # ids are random
        for c in message["tool_calls"]:
            c.pop("id")
    assert got == expected
    assert [json.loads(c["function"]["arguments"]) for c in got["tool_calls"]] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert len(got["warnings"]) == 2 and '"nope"' in got["content"] and got["content"].endswith('{"name":')


def test_thinking_defaults_to_what_the_model_was_trained_for():
    backend = ScriptedBackend()
    backend.thinks = False  # e.g. the embedded, untuned SmolLM2
    with serving(create_app(backend, model_name="untuned")) as url:
        c = client(url)
        hi = [{"role": "user", "content": "hi"}]
        c.chat.completions.create(model="m", messages=hi)
        assert backend.prompts[-1].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        for asked in ({"extra_body": {"chat_template_kwargs": {"enable_thinking": True}}},
                      {"reasoning_effort": "high"},
                      {"messages": [{"role": "system", "content": "/think"}, *hi]}):
            c.chat.completions.create(**{"model": "m", "messages": hi, **asked})
            assert backend.prompts[-1].endswith("<|im_start|>assistant\n<think>\n"), asked
        c.chat.completions.create(model="m", messages=hi, reasoning_effort="none")
        assert backend.prompts[-1].endswith("</think>\n\n")


def test_without_max_tokens_a_reply_is_bounded_by_the_context_window():
    backend = ScriptedBackend(n_ctx=300)
    with serving(create_app(backend, model_name="m")) as url:
        client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert backend.gens[-1].max_new_tokens == 300  # the backend stops at the window's end
    with serving(create_app(backend, model_name="m", max_tokens_cap=50)) as url:
        client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=99)
        assert backend.gens[-1].max_new_tokens == 50


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"n": 2}, "n=2"),
        ({"logprobs": True}, "logprobs=true"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"top_k": 40, "min_p": 0.1}, "min_p, top_k"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"audio": {}}, "audio"),
    ],
)
def test_unsupported_fields_are_refused_by_name(scripted, fields, named):
    url, _ = scripted
    r = httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], **fields})
    assert r.status_code == 400, r.text
    assert named in r.json()["error"]["message"] and r.json()["error"]["code"] == "unsupported_parameter"


def test_fields_clients_send_by_default_are_accepted(scripted):
    url, _ = scripted
    r = httpx.post(url + "/v1/chat/completions", timeout=60, json={
        "messages": [{"role": "user", "content": "hi"}], "n": 1, "logprobs": False, "presence_penalty": 0,
        "frequency_penalty": 0.0, "logit_bias": {}, "user": "u1", "metadata": {"k": "v"}, "store": False,
        "stream_options": None, "parallel_tool_calls": True, "service_tier": "auto", "response_format": {"type": "text"}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
         "tool_choice.function.name"),
        ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice"),
        ({"tools": [WEATHER], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                  "function": {"name": "get_time", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "noon"}]}, "messages.1.tool_calls"),
    ],
)
def test_naming_a_tool_that_was_not_offered_is_a_400(scripted, fields, param):
    url, _ = scripted
    body = {"messages": [{"role": "user", "content": "hi"}], **fields}
    r = httpx.post(url + "/v1/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert "get_" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------- constrained decoding

TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a timezone.",
        "parameters": {"type": "object", "properties": {
            "tz": {"type": "string", "enum": ["UTC", "CET", "PST"]}, "hours24": {"type": "boolean"},
            "offset": {"type": "integer"}}, "required": ["tz", "hours24"]},
    },
}
ANSWER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
                 "required": ["city", "celsius"]}


def _grammar(url: str, backend: ScriptedBackend, **fields) -> str | None:
    r = httpx.post(url + "/v1/chat/completions", timeout=60, json={"messages": [{"role": "user", "content": "hi"}],
                                                                    **fields})
    assert r.status_code == 200, r.text
    return backend.gens[-1].grammar


def test_tool_choice_and_response_format_become_grammars(scripted):
    url, backend = scripted
    assert _grammar(url, backend, tools=[WEATHER, TIME]) is None  # auto: the model decides
    assert _grammar(url, backend, tools=[WEATHER, TIME], tool_choice="none") is None
    required = _grammar(url, backend, tools=[WEATHER, TIME], tool_choice="required")
    assert '"\\"get_weather\\""' in required and '"\\"get_time\\""' in required and '"\\"PST\\""' in required
    assert required.splitlines()[0].endswith('"<tool_call>\\n" smolthink-value "\\n</tool_call>"')  # one call
    several = _grammar(url, backend, tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=True)
    assert ")*" in several.splitlines()[0]
    named = _grammar(url, backend, tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert "get_time" in named and "get_weather" not in named
    thinking = _grammar(url, backend, tools=[WEATHER], tool_choice="required",
                        chat_template_kwargs={"enable_thinking": True})
    assert thinking.startswith('root ::= smolthink-think "</think>"')
    fmt = _grammar(url, backend, response_format={"type": "json_schema", "json_schema": {
        "name": "answer", "schema": ANSWER_SCHEMA}})
    assert "celsius" in fmt and "tool_call" not in fmt
    assert "object" in _grammar(url, backend, response_format={"type": "json_object"})


def test_constrained_requests_need_a_backend_with_grammars():
    backend = ScriptedBackend()
    backend.supports_grammar = False  # both real backends have grammars (tests/test_constrained_transformers.py)
    with serving(create_app(backend, model_name="plain")) as url:
        r = httpx.post(url + "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER], "tool_choice": "required"})
    message = r.json()["error"]["message"]
    assert r.status_code == 400 and "scripted backend" in message and "--backend llama" in message, r.text


@pytest.fixture(scope="module")
def untuned_url() -> Iterator[str]:
    """The embedded SmolLM2-135M, never tuned to call tools, served by llama.cpp's batched engine (one thread:
    two threads on a busy two-core machine wait on each other at every step)."""
    backend = BatchedLlamaBackend(embedded_f16_gguf(), n_ctx=2048, parallel=2, n_threads=1, thinks=False)
    with serving(create_app(backend, model_name="smollm2-135m")) as url:
        yield url


def _validates(call, tools) -> dict:
    from jsonschema import validate

    (tool,) = [t for t in tools if t["function"]["name"] == call.function.name]
    arguments = json.loads(call.function.arguments)
    validate(arguments, tool["function"]["parameters"])
    return arguments


@pytest.mark.slow
@pytest.mark.parametrize("question", ["What's the weather in Paris?", "What time is it in Berlin?", "Hello!"])
def test_required_tool_choice_makes_even_the_untuned_model_call_validly(untuned_url, question):
    c = client(untuned_url).with_options(timeout=300)
    tools = [WEATHER, TIME]
    out = c.chat.completions.create(model="m", messages=[{"role": "user", "content": question}], tools=tools,
                                    tool_choice="required", max_tokens=200)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and len(choice.message.tool_calls) == 1
    _validates(choice.message.tool_calls[0], tools)
    named = c.chat.completions.create(model="m", messages=[{"role": "user", "content": question}], tools=tools,
                                      tool_choice={"type": "function", "function": {"name": "get_time"}},
                                      max_tokens=200)
    (call,) = named.choices[0].message.tool_calls
    assert call.function.name == "get_time" and _validates(call, tools)["tz"] in ("UTC", "CET", "PST")
    chunks = list(c.chat.completions.create(model="m", messages=[{"role": "user", "content": question}],
                                            tools=tools, tool_choice="required", max_tokens=200, stream=True))
    streamed = [tc for ch in chunks for tc in (ch.choices[0].delta.tool_calls or [])]
    assert streamed[0].function.name == choice.message.tool_calls[0].function.name  # greedy: the same call
    assert "".join(tc.function.arguments for tc in streamed) == choice.message.tool_calls[0].function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.slow
def test_response_format_json_schema_is_enforced(untuned_url):
    from jsonschema import validate

    out = client(untuned_url).with_options(timeout=300).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "How warm is it in Rome?"}], max_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}})
    validate(json.loads(out.choices[0].message.content), ANSWER_SCHEMA)
    assert out.choices[0].finish_reason == "stop"


@pytest.mark.slow
def test_untuned_model_answers_in_content_by_default(untuned_url):
    """The BFCL-harness failure: plain requests, no max_tokens, used to come back content null."""
    out = client(untuned_url).with_options(timeout=300).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert out.choices[0].message.content and extra(out.choices[0].message, "reasoning_content") is None


# ----------------------------------------------------------------------------------- model defaults and flags


def test_trained_to_think_decides_the_default_mode(tmp_path):
    from smolthink.backends import trained_to_think
    from smolthink.models import ModelRef

    assert not trained_to_think(ModelRef("smollm2-135m", "embedded", None), None)
    run = tmp_path / "run"
    run.mkdir()
    assert not trained_to_think(ModelRef(str(run), "hf", run), "{{ messages }}")
    assert trained_to_think(ModelRef(str(run), "hf", run), "{% if enable_thinking %}…")  # SmolLM3-style
    (run / "train_config.json").write_text("{}")
    assert trained_to_think(ModelRef(str(run), "hf", run), None)  # a smolthink run
    gguf = run / "model.gguf"
    assert trained_to_think(ModelRef(str(gguf), "gguf", gguf), None)  # exported into its run
    elsewhere = tmp_path / "model.gguf"
    assert not trained_to_think(ModelRef(str(elsewhere), "gguf", elsewhere), None)
    assert trained_to_think(ModelRef(str(elsewhere), "gguf", elsewhere), None, "true")  # the export's metadata key


@pytest.mark.parametrize("argv, expected", [
    (["serve"], {"n_ctx": None, "parallel": 1}),
    (["serve", "--ctx-size", "1024", "--parallel", "8"], {"n_ctx": 1024, "parallel": 8}),
    (["ask", "hi", "-c", "2048"], {"n_ctx": 2048}),
])
def test_context_window_and_parallel_flags_reach_the_backend(monkeypatch, argv, expected):
    from typer.testing import CliRunner

    from smolthink.cli import app

    seen = {}

    def load_backend(model, backend="auto", **kwargs):
        seen.update(kwargs)
        raise SystemExit(3)

    monkeypatch.setattr("smolthink.backends.load_backend", load_backend)
    monkeypatch.delenv("SMOLTHINK_API_KEY", raising=False)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 3, result.output
    assert {k: seen.get(k) for k in expected} == expected


@pytest.mark.slow
def test_the_default_context_window_is_the_trained_one():
    backend = load_backend("smollm2-135m", "llama")
    assert backend.n_ctx == 8192 and backend.thinks is False  # the embedded model is untuned
    with serving(create_app(backend, model_name="m")) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "word " * 9000}]})
    error = r.json()["error"]
    assert r.status_code == 400 and "the context window is 8192" in error["message"], error
    assert error["message"].startswith("prompt is 9") and error["code"] == "context_length_exceeded"
