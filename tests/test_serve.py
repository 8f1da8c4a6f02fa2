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

from smolthink.chat.backends import GenerationConfig, GenerationStats, load_backend
from smolthink.formats import CONTROL_TOKENS
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
    special_tokens = CONTROL_TOKENS

    def __init__(self, delay_s: float = 0.0, *, repeat: int = 1, n_ctx: int = 4096):
        self.prompts: list[str] = []
        self.pieces: list[int] = []
        self.counted: list[str] = []  # prompts passed to count_tokens
        self.delay_s = delay_s
        self.repeat = repeat
        self.n_ctx = n_ctx
        self.stats = GenerationStats()

    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        return len(text.split())

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        self.prompts.append(prompt)
        self.pieces.append(0)
        text = (ANSWER_TURN if "<tool_response>" in prompt else TOOL_TURN) * self.repeat
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
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments) == {"city": "Paris"}
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
    assert ok.choices[0].finish_reason == "tool_calls"


def test_unknown_route_is_a_json_404(scripted):
    url, _ = scripted
    r = httpx.get(url + "/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_disconnect_does_not_wedge_the_lock():
    backend = ScriptedBackend(delay_s=0.02)  # ~0.5 s per reply
    with serving(create_app(backend, model_name="slow")) as url:
        body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as r:
            first = next(r.iter_lines())  # the role chunk, then hang up mid-generation
            assert first.startswith("data: ")
        out = client(url).chat.completions.create(model="slow", messages=[{"role": "user", "content": "again"}],
                                                  timeout=10)
        assert out.choices[0].finish_reason == "tool_calls"
        assert len(backend.prompts) == 2
