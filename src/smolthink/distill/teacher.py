"""Teachers: an OpenAI-compatible server over HTTP, or a smolthink model generating in-process.

Both answer `sample(messages, tools, seeds)` with one `Reply` (or a `RequestFailed`) per seed, the reply already
in smolthink's schema. Whatever the server, the reasoning is read from `reasoning_content` (llama-server,
DeepSeek), `reasoning` (vLLM), `thinking` (Ollama) or a `<think>` block in the content, and tool calls from native
`tool_calls` or, when a server returns them as text, from `<tool_call>` blocks (`formats.parse_assistant`). The
teacher's text is untrusted: it is parsed as data (JSON, never eval), and the verifiers decide what is kept.

The HTTP client (`HTTPTeacher`, httpx async):
- at most `concurrency` requests in flight (a semaphore; a request waiting to retry keeps its slot, so a server
  answering 429 sees the load drop);
- each request bounded by `timeout_s` from start to last byte, streamed or not;
- 429, 5xx, timeouts, connection errors and garbled replies (invalid JSON, missing fields, a stream that ends
  before its finish_reason) are retried `retries` times with exponential backoff and full jitter (Retry-After is
  honoured); 400/413/422 are the server refusing this one request (not retried); 401/403/404 (a bad key, an unknown
  model) stop the run at once with the server's own message;
- after `max_consecutive_failures` requests in a row have failed, the run stops with the URL and the last error.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from smolthink.backends import render_prompt
from smolthink.distill.recipe import DistillError, JudgeSpec, TeacherSpec
from smolthink.formats import normalize_message, parse_assistant

BACKOFF_CAP_S = 30.0
_REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
_FATAL = (401, 403, 404)  # the key or the model is wrong: no request will succeed
_REFUSED = (400, 413, 422)  # this request is refused (too long, bad schema): retrying it changes nothing


@dataclass
class Reply:
    message: dict[str, Any]  # {"role": "assistant", "content", "reasoning", "tool_calls"?} in smolthink's schema
    problems: list[str] = field(default_factory=list)  # what did not parse (a malformed tool call, stray tags)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0


class RequestFailed(Exception):
    """One request failed after its retries (`refused`: the server rejected it with a 4xx; not retried)."""

    def __init__(self, message: str, *, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class _Retry(Exception):
    """A failure worth another attempt; `retry_after` is the server's Retry-After, in seconds, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def read_message(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An OpenAI-style assistant message (any server's spelling) → (schema message, problems)."""
    content = raw.get("content")
    problems: list[str] = []
    if content is not None and not isinstance(content, str):
        problems.append(f"content is not a string: {type(content).__name__}")
        content = None
    field_reasoning = next((raw[k] for k in _REASONING_FIELDS if isinstance(raw.get(k), str) and raw[k].strip()), None)
    parsed = parse_assistant(content or "")
    # "</think>" with no "<think>" is how a reply reads when the server's template pre-fills "<think>" (Qwen3,
    # DeepSeek-R1 served raw): the text before it is the reasoning.
    problems += [e for e in parsed.errors if not e.startswith("</think> without")] + parsed.call_errors
    if field_reasoning and parsed.reasoning:
        problems.append("reasoning both in a reasoning field and in a <think> block")
    try:
        native = normalize_message({"role": "assistant", "tool_calls": raw.get("tool_calls") or []})["tool_calls"]
    except (ValueError, AttributeError, TypeError) as e:
        problems.append(f"malformed tool call: {e}")
        native = []
    reasoning = (field_reasoning or parsed.reasoning or "").strip() or None
    message: dict[str, Any] = {"role": "assistant", "content": parsed.content, "reasoning": reasoning}
    calls = native + parsed.tool_calls
    if calls:
        message["tool_calls"] = calls
    return message, problems


def to_openai(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Schema messages → the OpenAI wire form: call ids, JSON-string arguments, tool results pointing at their call.
    Reasoning of earlier turns is not sent (the API has no field for it)."""
    wire, pending = [], []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            out: dict[str, Any] = {"role": "assistant", "content": m.get("content") or ""}
            if m.get("tool_calls"):
                out["tool_calls"] = []
                for j, call in enumerate(m["tool_calls"]):
                    call_id = f"call_{i}_{j}"
                    pending.append((call["function"]["name"], call_id))
                    out["tool_calls"].append({"id": call_id, "type": "function", "function": {
                        "name": call["function"]["name"],
                        "arguments": json.dumps(call["function"]["arguments"], ensure_ascii=False)}})
            wire.append(out)
        elif m["role"] == "tool":
            match = next((p for p in pending if p[0] == m.get("name")), pending[0] if pending else None)
            if match:
                pending.remove(match)
            wire.append({"role": "tool", "content": m["content"], "name": m.get("name"),
                         "tool_call_id": match[1] if match else f"call_{i}"})
        else:
            wire.append({"role": m["role"], "content": m["content"]})
    return wire


def with_system(messages: list[dict[str, Any]], *texts: str | None) -> list[dict[str, Any]]:
    """The prompt with the teacher-only instructions first in its system message."""
    extra = "\n\n".join(t for t in texts if t)
    if not extra:
        return messages
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{extra}\n\n{messages[0]['content']}"}, *messages[1:]]
    return [{"role": "system", "content": extra}, *messages]


def _api_key(env: str | None, who: str) -> str | None:
    if env is None:
        return None
    key = os.environ.get(env, "").strip()
    if not key:
        raise DistillError(f"{who}.api_key_env: the environment variable {env} is not set (or empty); "
                           f"export {env}=<your key>, or remove api_key_env for a server without keys")
    return key


def _server_message(response: Any) -> str:
    """The error text a server sent: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if body.get("detail"):
            return str(body["detail"])[:300]
    return json.dumps(body)[:300]


def _retry_after(response: Any) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 60.0)
    except ValueError:
        return None


class HTTPTeacher:
    """An OpenAI-compatible /chat/completions endpoint; see the module docstring for the retry rules."""

    def __init__(self, *, url: str, model: str, api_key: str | None, timeout_s: float, retries: int,
                 max_consecutive_failures: int, concurrency: int, stream: bool = False, backoff_s: float = 0.5,
                 extra_body: dict[str, Any] | None = None):
        import httpx2 as httpx

        self.url = url.rstrip("/")
        self.model, self.timeout_s, self.retries, self.stream = model, timeout_s, retries, stream
        self.max_failures, self.backoff_s = max_consecutive_failures, backoff_s
        self.extra_body = dict(extra_body or {})
        self.label = f"{model} @ {self.url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers,
                                       timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                                       limits=httpx.Limits(max_connections=concurrency + 2))
        self._slots = asyncio.Semaphore(concurrency)
        self._failures = 0  # requests failed in a row
        self._broken: DistillError | None = None  # once the circuit opens, no request is sent any more
        self.failed = 0  # requests that failed after their retries (a rerun asks for those samples again)

    @classmethod
    def from_spec(cls, spec: TeacherSpec | JudgeSpec, *, who: str, concurrency: int) -> HTTPTeacher:
        return cls(url=spec.url, model=spec.model, api_key=_api_key(spec.api_key_env, who), timeout_s=spec.timeout_s,
                   retries=spec.retries, max_consecutive_failures=spec.max_consecutive_failures,
                   concurrency=concurrency, stream=getattr(spec, "stream", False),
                   backoff_s=getattr(spec, "backoff_s", 0.5), extra_body=getattr(spec, "extra_body", None))

    async def close(self) -> None:
        await self._http.aclose()

    async def check_reachable(self) -> None:
        """Fail within seconds when nothing answers at the URL (rather than after every retry of every request)."""
        import httpx2 as httpx

        try:
            response = await self._http.get("/models", timeout=httpx.Timeout(10.0, connect=5.0))
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise DistillError(f"cannot reach the teacher at {self.url}: {type(e).__name__}: {e or 'no answer'}; "
                               "is the server running, and does the URL end in /v1?") from None
        if response.status_code in (401, 403):
            raise DistillError(f"the teacher at {self.url} refused the key (HTTP {response.status_code}): "
                               f"{_server_message(response)}")

    async def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, seed: int, max_tokens: int,
                   temperature: float, top_p: float, think: bool) -> Reply:
        body: dict[str, Any] = {"model": self.model, "messages": to_openai(messages), "max_tokens": max_tokens,
                                "temperature": temperature, "top_p": top_p, "seed": seed,
                                "chat_template_kwargs": {"enable_thinking": think}}
        if tools:
            body["tools"] = tools
        if self.stream:
            body["stream"], body["stream_options"] = True, {"include_usage": True}
        body.update(self.extra_body)
        body = {k: v for k, v in body.items() if v is not None}  # extra_body: {key: null} removes a key
        async with self._slots:
            if self._broken:
                raise self._broken
            try:
                reply = await self._with_retries(body)
            except RequestFailed as e:
                self._failures += 1
                self.failed += not e.refused
                if self._failures >= self.max_failures:
                    self._broken = DistillError(f"stopped: {self._failures} requests in a row to {self.url} failed; "
                                                f"the last error: {e}")
                    raise self._broken from None
                raise
            except DistillError as e:  # a fatal answer (bad key, unknown model) stops the other requests too
                self._broken = e
                raise
        self._failures = 0
        return reply

    async def _with_retries(self, body: dict[str, Any]) -> Reply:
        for attempt in range(self.retries + 1):
            try:
                return await self._once(body)
            except _Retry as e:
                if attempt == self.retries:
                    raise RequestFailed(f"{e} (after {attempt + 1} attempts)") from None
                ceiling = min(BACKOFF_CAP_S, self.backoff_s * 2**attempt)
                await asyncio.sleep(e.retry_after if e.retry_after is not None else random.uniform(0, ceiling))
        raise AssertionError("unreachable")

    async def _once(self, body: dict[str, Any]) -> Reply:
        import httpx2 as httpx

        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._http.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        self._raise_for(response)
                    if self.stream:
                        reply = await _read_stream(response)
                    else:
                        reply = _read_body(await response.aread())
        except TimeoutError:
            raise _Retry(f"no complete reply within {self.timeout_s:g} s (teacher.timeout_s)") from None
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise _Retry(f"{type(e).__name__}: {e or 'connection failed'}") from None
        reply.latency_s = time.perf_counter() - started
        return reply

    def _raise_for(self, response: Any) -> None:
        status, message = response.status_code, _server_message(response)
        if status in _FATAL:
            raise DistillError(f"the teacher at {self.url} answered HTTP {status}: {message}")
        if status in _REFUSED:
            raise RequestFailed(f"HTTP {status}: {message}", refused=True)
        raise _Retry(f"HTTP {status}: {message}", _retry_after(response))


def _read_body(raw: bytes) -> Reply:
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise _Retry(f"the reply is not valid JSON ({e}): {raw[:120]!r}") from None
    try:
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        raise _Retry(f"the reply has no choices[0].message: {json.dumps(data)[:200]}") from None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    parsed, problems = read_message(message)
    return Reply(parsed, problems, choice.get("finish_reason"), usage.get("prompt_tokens"),
                 usage.get("completion_tokens"))


async def _read_stream(response: Any) -> Reply:
    """Server-sent events → one Reply; a stream that stops before a finish_reason is a failure, not a short reply."""
    text: dict[str, str] = {"content": "", **{k: "" for k in _REASONING_FIELDS}}
    calls: dict[int, dict[str, Any]] = {}
    finish, usage = None, {}
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise _Retry(f"a stream event is not valid JSON: {payload[:120]!r}") from None
        if not isinstance(chunk, dict):
            raise _Retry(f"a stream event is not an object: {payload[:120]!r}")
        if chunk.get("error"):
            raise _Retry(f"the stream reported an error: {str(chunk['error'])[:200]}")
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for key in text:
                if isinstance(delta.get(key), str):
                    text[key] += delta[key]
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", len(calls)), {"name": "", "arguments": ""})
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                args = fn.get("arguments")
                slot["arguments"] += args if isinstance(args, str) else json.dumps(args) if args else ""
            finish = choice.get("finish_reason") or finish
    if finish is None:
        raise _Retry("the stream ended before the reply finished (no finish_reason)")
    raw = {**text, "tool_calls": [{"function": calls[i]} for i in sorted(calls)]}
    parsed, problems = read_message(raw)
    return Reply(parsed, problems, finish, usage.get("prompt_tokens"), usage.get("completion_tokens"))


class LocalTeacher:
    """A smolthink model reference generating in-process (`smolthink.backends`): one generation at a time; with the
    transformers backend a prompt's k samples are one batch."""

    def __init__(self, spec: TeacherSpec, progress: Any = None):
        from smolthink.backends import load_backend

        self.backend = load_backend(spec.model, spec.backend, progress=progress)
        self.label = f"{spec.model} (in-process, {self.backend.name})"
        self.failed = 0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        return None

    async def sample(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seeds: list[int], *,
                     max_tokens: int, temperature: float, top_p: float, think: bool) -> list[Reply | RequestFailed]:
        from smolthink.formats import generation_prefix

        prompt = render_prompt(self.backend, messages, tools, enable_thinking=think)
        prefix = generation_prefix(prompt)
        async with self._lock:
            started = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self._generate, prompt, seeds, max_tokens, temperature, top_p)
            except ValueError as e:  # the prompt does not fit the context window: this prompt's problem only
                return [RequestFailed(str(e), refused=True) for _ in seeds]
            latency = (time.perf_counter() - started) / max(1, len(seeds))
        prompt_tokens = self.backend.count_tokens(prompt)
        replies = []
        for text, finish, tokens in outputs:
            message, problems = read_message({"content": prefix + text})
            replies.append(Reply(message, problems, finish, prompt_tokens, tokens, latency))
        return replies

    def _generate(self, prompt: str, seeds: list[int], max_tokens: int, temperature: float,
                  top_p: float) -> list[tuple[str, str, int]]:
        from smolthink.backends import GenerationConfig

        def config(seed: int) -> GenerationConfig:
            return GenerationConfig(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)

        if hasattr(self.backend, "generate_batch"):
            return self.backend.generate_batch([prompt] * len(seeds), config(seeds[0]))
        outputs = []
        for seed in seeds:
            text = "".join(self.backend.stream(prompt, config(seed)))
            stats = self.backend.stats
            outputs.append((text, stats.finish_reason, stats.completion_tokens))
        return outputs
