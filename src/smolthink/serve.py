"""`smolthink serve`: an OpenAI-compatible HTTP server over one backend.

Speaks `/v1/chat/completions` (non-streaming and SSE streaming), `/v1/models` and `/health`, so the official
`openai` client, LangChain, smolagents and friends can use a smolthink model. Requests arrive in OpenAI's chat
format and are mapped onto smolthink's conversation schema with `formats.normalize_message`; the reply, whole or
streamed, goes through one `Reply` (`formats.StreamSplitter` routes the text live, `formats.parse_assistant`
reads each tool-call block), so the server reads the think / tool-call syntax exactly like `smolthink chat` does:

- reasoning comes back as `reasoning_content` and `reasoning` (vLLM's two names), the answer as `content`;
- `<tool_call>` blocks come back as OpenAI `tool_calls` with JSON-string arguments, finish_reason "tool_calls";
  streamed, each call is sent when its block closes, in OpenAI's delta shape (id and name, then arguments);
- nothing the model wrote is lost (`Reply`): a malformed call, a call to a function not offered and the text of
  a never-closed `<think>` come back as content, with a `warnings` entry;
- thinking is on by default only for a model trained to think (`backend.thinks`); a request switches it with
  `chat_template_kwargs: {"enable_thinking": …}` (vLLM's spelling) or `reasoning_effort`; "/think" and
  "/no_think" in the system message still win, as in the template;
- a field the server would not honour (n > 1, logprobs, penalties, unknown fields) is a 400 naming it.

Generations run `backend.parallel` at a time (`serve --parallel N`: llama.cpp's `BatchedLlamaBackend` decodes them
in one batch; other backends take one at a time, FIFO). Each blocking generation runs in a worker thread that
holds its slot until the thread finishes, not the request, so a client that disconnects mid-generation cannot
let more generations onto the model than it takes. A disconnect does stop its generation, though: it sets the
job's cancel event, the backend stops within a token, the thread ends and the next request starts.

tool_choice "required" or a named function, and response_format json_object / json_schema, are enforced by
constrained decoding (`reply_grammar`: a GBNF grammar from the functions' JSON schemas, as llama-server does),
so the call parses and its arguments validate even from an untuned model. Both backends take that one grammar:
llama.cpp's sampler, or xgrammar as a logits processor on transformers (`check_grammar` compiles it first, so a
grammar it cannot take, or xgrammar missing, is a 400 before the request joins the queue).

No client can hold the model for longer than its own generation: everything before it happens outside the lock
and is bounded by the request, never by the model. The body is bounded in bytes and in JSON nesting, the
conversation and tool schemas are validated, and the rendered prompt is bounded by what the context window can
hold (characters and special-token strings, checked before tokenizing, then tokens) before it joins the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator, validator_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smolthink.backends import GenerationConfig, GenerationStats, check_context, render_prompt
from smolthink.errors import UserError
from smolthink.formats import (
    CALL_CLOSE,
    CALL_OPEN,
    CODE_CLOSE,
    CODE_OPEN,
    StreamSplitter,
    generation_prefix,
    neutralize_control_tokens,
    normalize_message,
    parse_assistant,
    validate_conversation,
)

# ------------------------------------------------------------------------------------------ request models


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI adds fields often; unknown ones are ignored, not rejected


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class FunctionCall(_Lenient):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(_Lenient):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class FunctionSpec(_Lenient):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionSpec


class TemplateKwargs(_Lenient):
    enable_thinking: bool | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class NamedFunction(_Lenient):
    name: str = Field(min_length=1)


class NamedToolChoice(_Lenient):
    type: Literal["function"] = "function"
    function: NamedFunction


class JSONSchemaFormat(_Lenient):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class ChatRequest(BaseModel):
    """The fields `smolthink serve` reads. Any other top-level field is refused by name (`check_fields`) rather
    than silently ignored: a client that asks for something must not believe it got it."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None  # OpenAI's limit: up to 4 sequences
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # OpenAI's int64
    stream: bool = False
    stream_options: StreamOptions | None = None
    chat_template_kwargs: TemplateKwargs | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    # Accepted only at the value that asks for nothing (`UNHONOURED`): clients send them with their defaults.
    n: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    logit_bias: Any = None
    # Harmless: bookkeeping for the caller or for OpenAI's platform, nothing that changes the reply.
    user: Any = None
    metadata: Any = None
    store: Any = None
    service_tier: Any = None
    prompt_cache_key: Any = None
    safety_identifier: Any = None


# field → the values that ask for nothing; anything else is a 400 naming the field.
UNHONOURED: dict[str, tuple[Any, ...]] = {
    "n": (None, 1), "logprobs": (None, False), "top_logprobs": (None, 0), "presence_penalty": (None, 0),
    "frequency_penalty": (None, 0), "logit_bias": (None, {}),
}


def check_fields(raw: dict[str, Any]) -> None:
    """Refuse, by name, the fields this server does not honour: unknown ones, and known ones set to a value that
    asks for something (n > 1, logprobs…). Raises APIError(400)."""
    unknown = sorted(k for k in raw if k not in ChatRequest.model_fields)
    if unknown:
        raise APIError(400, f"unsupported field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                       "(smolthink serve refuses what it would not honour)", param=unknown[0],
                       code="unsupported_parameter")
    asked = [k for k, ok in UNHONOURED.items() if k in raw and not any(_same(raw[k], v) for v in ok)]
    if asked:
        shown = ", ".join(f"{k}={json.dumps(raw[k])[:40]}" for k in asked)
        raise APIError(400, f"unsupported value{'s' if len(asked) > 1 else ''}: {shown} (only "
                       + "; ".join(f"{k}: {' or '.join(json.dumps(v) for v in UNHONOURED[k])}" for k in asked)
                       + " is served)", param=asked[0], code="unsupported_parameter")


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 0 is 0.0, but false is not 0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


# ------------------------------------------------------------------------------------------------- errors


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def _validation_error(e: ValidationError) -> APIError:
    first = e.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()[:5])
    return APIError(400, problems, param=param)


MAX_JSON_DEPTH = 64  # a request is ~6 levels deep and a tool schema a dozen; json.loads gives up near 1000


def check_json(value: Any) -> None:
    """A request body must nest at most MAX_JSON_DEPTH levels (deeper would hit Python's recursion limit in
    pydantic, the template or jsonschema) and hold only text (no lone UTF-16 surrogates, which JSON can escape
    but UTF-8 cannot encode: echoed back in a response, they would fail it). Raises APIError(400)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise APIError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise APIError(400, f"request body holds a lone UTF-16 surrogate in {item[:40]!r}") from None
        elif isinstance(item, dict):
            stack.extend((k, depth) for k in item)  # keys are strings too
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


# ------------------------------------------------------------------------------------------- request → prompt


def _text(content: str | list[TextPart] | None) -> str | None:
    if isinstance(content, list):
        return "".join(part.text for part in content)
    return content


def to_conversation(req: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Map an OpenAI request onto smolthink's schema: (messages, tools). Raises APIError(400) when it can't."""
    messages: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool_call id → function name: OpenAI tool messages carry only the id
    calls_have_ids = False  # whether the latest assistant tool calls carried ids
    for i, m in enumerate(req.messages):
        role = "system" if m.role == "developer" else m.role
        msg: dict[str, Any] = {"role": role, "content": _text(m.content)}
        if role == "assistant":
            msg["reasoning"] = m.reasoning if m.reasoning is not None else m.reasoning_content
            if m.tool_calls:
                msg["tool_calls"] = [c.model_dump(exclude_none=True) for c in m.tool_calls]
                call_names.update({c.id: c.function.name for c in m.tool_calls if c.id})
                calls_have_ids = any(c.id for c in m.tool_calls)
            try:
                msg = normalize_message(msg)
            except ValueError as e:
                raise APIError(400, f"messages[{i}].{e}", param=f"messages.{i}.tool_calls") from None
            except RecursionError:  # JSON-string arguments are parsed only here
                raise APIError(400, f"messages[{i}].tool_calls: arguments nest deeper than {MAX_JSON_DEPTH} levels",
                               param=f"messages.{i}.tool_calls") from None
            check_json(msg.get("tool_calls"))  # …so they are checked like the body was
        elif role == "tool":
            # A result must answer a call. The openai SDK and agent frameworks echo the ids we (or they) gave the
            # calls, so an id must name an earlier call, and may be left out only when the latest calls had none:
            # some clients and hand-written conversations send calls and results without ids, their results
            # answering the calls in order, and the template renders results in order, without ids, anyway.
            if m.tool_call_id is not None and m.tool_call_id not in call_names:
                raise APIError(400, f"messages[{i}].tool_call_id: {m.tool_call_id!r} is not the id of any earlier "
                               "assistant tool call", param=f"messages.{i}.tool_call_id")
            if m.tool_call_id is None and calls_have_ids:
                raise APIError(400, f"messages[{i}].tool_call_id: missing; the assistant's tool calls carry ids, "
                               "so a tool message must name the call it answers", param=f"messages.{i}.tool_call_id")
            msg["name"] = m.name or call_names.get(m.tool_call_id or "", "tool")
            # Tool output is untrusted: it may not forge turn boundaries in the prompt.
            if isinstance(msg["content"], str):
                msg["content"] = neutralize_control_tokens(msg["content"])
        messages.append(msg)
    for i, t in enumerate(req.tools or []):
        _check_parameters(i, t.function.parameters)
    _check_tool_names(req, messages)
    tools = None
    if req.tools and req.tool_choice != "none":
        tools = [{"type": "function", "function": t.function.model_dump(exclude_none=True)} for t in req.tools]
    problems = validate_conversation(messages, tools)
    if problems:
        raise APIError(400, "; ".join(problems), param="messages")
    return messages, tools


def _forces_call(req: ChatRequest) -> bool:
    """tool_choice "required" or a named function: the reply must be a tool call."""
    return req.tool_choice == "required" or isinstance(req.tool_choice, NamedToolChoice)


def _check_tool_names(req: ChatRequest, messages: list[dict[str, Any]]) -> None:
    """tool_choice and the conversation's earlier calls may only name functions the request offers."""
    names = [t.function.name for t in req.tools or []]
    choice = req.tool_choice
    if _forces_call(req):
        if not names:
            wanted = f"a call to {choice.function.name!r}" if isinstance(choice, NamedToolChoice) else "a tool call"
            raise APIError(400, f"tool_choice asks for {wanted}, but the request offers no tools", param="tool_choice")
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise APIError(400, f"tool_choice names the function {choice.function.name!r}, which is not among the "
                       f"offered tools ({', '.join(names)})", param="tool_choice.function.name")
    if not names:
        return  # a replayed conversation without tools: its calls are history, not offers
    for i, m in enumerate(messages):
        for call in m.get("tool_calls") or []:
            if call["function"]["name"] not in names:
                raise APIError(400, f"messages[{i}] calls the function {call['function']['name']!r}, which is not "
                               f"among the offered tools ({', '.join(names)})", param=f"messages.{i}.tool_calls")


def thinking(req: ChatRequest, backend: Any) -> bool:
    """Whether the reply opens with reasoning: the request's `chat_template_kwargs.enable_thinking` (vLLM's
    spelling), else its `reasoning_effort` ("none"/"minimal" mean no), else the model's default: on for a model
    trained to think (`backend.thinks`), off for one that was not, which would never close a pre-filled `<think>`.
    "/think" or "/no_think" in the system message still win, in the template."""
    asked = req.chat_template_kwargs.enable_thinking if req.chat_template_kwargs else None
    if asked is not None:
        return asked
    if req.reasoning_effort is not None:
        return req.reasoning_effort not in ("none", "minimal")
    return getattr(backend, "thinks", True)


def _check_parameters(i: int, schema: dict[str, Any] | None) -> None:
    """A tool's parameters must be a JSON Schema for an object (its arguments), as OpenAI requires; None or {}
    (OpenAI's spelling of "no parameters") is fine too."""
    if not schema:
        return
    where, param = f"tools[{i}].function.parameters", f"tools.{i}.function.parameters"
    if schema.get("type") != "object":
        raise APIError(400, f"{where}: expected an object schema ({{\"type\": \"object\", \"properties\": …}}), got "
                       f"type {schema.get('type')!r}", param=param)
    if not isinstance(schema.get("$schema", ""), str):
        raise APIError(400, f"{where}.$schema: expected a URI string", param=param)
    try:  # the draft its "$schema" names, else the latest
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as e:
        at = "".join(f"[{p!r}]" for p in e.absolute_path)
        raise APIError(400, f"{where}{at}: not a valid JSON Schema: {e.message}", param=param) from None


# ---------------------------------------------------------------------------------------------- prompt bounds

# A token never spans more characters than its vocabulary's longest entry: 81 for SmolLM2 (80 '#' after a
# newline), and vocabularies of this family are alike. Text that averages more characters per token than this is
# no language, so a prompt longer than n_ctx tokens of it cannot fit the context window.
MAX_CHARS_PER_TOKEN = 128


def prompt_bounds(backend: Any) -> Callable[[str], None]:
    """The check a rendered prompt passes before it is tokenized; it raises APIError(400) naming the limit.

    Tokenizing takes time linear in the characters, but quadratic in the special-token strings for llama.cpp
    (10,000 "<|im_end|>" take 0.4 s, 40,000 take 8 s), and nobody may make the server spend that for a prompt
    that cannot fit. Each special-token string is one token, and a prompt holds at most n_ctx tokens, so both are
    bounded by the context window: at most n_ctx special-token strings and n_ctx × MAX_CHARS_PER_TOKEN
    characters. The bound holds whatever the text's origin: user messages are not escaped (people may type such
    strings to their own model), tool results are (`formats.neutralize_control_tokens`).
    """
    n_ctx = backend.n_ctx
    max_chars = n_ctx * MAX_CHARS_PER_TOKEN
    tokens = sorted(backend.special_tokens, key=len, reverse=True)  # longest first, as a tokenizer matches them
    special = re.compile("|".join(map(re.escape, tokens))) if tokens else None

    def check(prompt: str) -> None:
        if len(prompt) > max_chars:
            raise APIError(400, f"the prompt is {len(prompt)} characters, more than the {n_ctx}-token context "
                           f"window can hold (at most {max_chars}: {MAX_CHARS_PER_TOKEN} characters per token)",
                           param="messages", code="context_length_exceeded")
        for found, match in enumerate(special.finditer(prompt) if special else (), start=1):
            if found > n_ctx:
                raise APIError(400, f"the prompt holds more than {n_ctx} special-token strings (such as "
                               f"{match.group()!r}), each one token: more than the {n_ctx}-token context window "
                               "can hold", param="messages", code="context_length_exceeded")

    return check


# ------------------------------------------------------------------------------------ constrained decoding

# Text that does not contain "</think>": each alternative reads one character, or a proper prefix of the tag
# followed by a character that breaks it (never "<", which could start the tag again).
_THINK_RULE = ('smolthink-think ::= ( [^<] | "<" [^/<] | "</" [^t<] | "</t" [^h<] | "</th" [^i<] | "</thi" [^n<] '
               '| "</thin" [^k<] | "</think" [^><] )*')


def reply_grammar(req: ChatRequest, tools: list[dict[str, Any]] | None, prefix: str) -> str | None:
    """The GBNF grammar that enforces the request, the way llama-server and vLLM do: tool_choice "required" or a
    named function makes the reply a tool call whose arguments match that function's JSON schema (one call, or one
    or more when parallel_tool_calls is true); response_format json_object / json_schema makes the answer such a
    JSON value. None: nothing to enforce ("auto": the model decides, and `Reply` catches what does not parse).
    The grammar covers the whole generation after `prefix`, so a thinking reply reasons freely first."""
    choice = req.tool_choice
    if tools and _forces_call(req):
        wanted = choice.function.name if isinstance(choice, NamedToolChoice) else None
        named = [t for t in tools if wanted is None or t["function"]["name"] == wanted]
        calls = [{"type": "object", "required": ["name", "arguments"], "properties": {
            "name": {"const": t["function"]["name"]},
            "arguments": t["function"].get("parameters") or {"type": "object", "properties": {}}}} for t in named]
        body = _json_rules(calls[0] if len(calls) == 1 else {"oneOf": calls}, ["name", "arguments"], "tools")
        one = f'"{_gbnf(CALL_OPEN)}\\n" smolthink-value "\\n{_gbnf(CALL_CLOSE)}"'
        # One call unless the request allows more (llama-server's default too): a forced untuned model that may
        # add calls repeats the first one until the window is full.
        parallel = req.parallel_tool_calls is True and not isinstance(choice, NamedToolChoice)
        answer = f"{one} ( \"\\n\" {one} )*" if parallel else one
    elif req.response_format is not None and req.response_format.type != "text":
        fmt = req.response_format
        schema = fmt.json_schema.schema_ if fmt.type == "json_schema" and fmt.json_schema else {}
        body = _json_rules(schema or {"type": "object"}, None, "response_format.json_schema.schema")
        answer = "smolthink-value"
    else:
        return None
    if prefix.rstrip().endswith("<think>"):  # reasoning first, then the constrained answer
        return f'root ::= smolthink-think "</think>" [ \\n]* {answer}\n{_THINK_RULE}\n{body}'
    return f"root ::= {answer}\n{body}"


def _gbnf(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _json_rules(schema: dict[str, Any], order: list[str] | None, param: str) -> str:
    """llama.cpp's JSON-schema → GBNF converter (the one llama-server uses), its root renamed smolthink-value."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as e:
        raise APIError(400, f"constrained decoding needs llama-cpp-python, which is not installed ({e})",
                       param=param) from None
    try:
        rules = json_schema_to_gbnf(json.dumps(schema), order)
    except Exception as e:  # the converter raises plain exceptions for schema features it does not know
        raise APIError(400, f"{param}: cannot enforce this JSON schema: {type(e).__name__}: {e}", param=param) from None
    return re.sub(r"^root ::=", "smolthink-value ::=", rules, flags=re.MULTILINE)


# ---------------------------------------------------------------------------------------------- generation


@asynccontextmanager
async def cancel_on_disconnect(request: Request) -> AsyncIterator[threading.Event]:
    """An event that is set when the client hangs up; passed to the backend, it stops the generation. The body
    has been read, so the next ASGI message the server sends is the disconnect."""
    cancel = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.set()

    watcher = asyncio.create_task(watch())
    try:
        yield cancel
    finally:
        watcher.cancel()


class Generator:
    """Runs generations on one backend, at most `backend.parallel` at a time (1: FIFO, one after another), and
    streams their text back to async code.

    Each generation gets a `cancel` event: set (by a disconnect, or when the request's task is cancelled), the
    backend stops within a token. A slot is released when its worker thread ends, never before, so there are
    never more generations on the model than it can take. `BatchedLlamaBackend` decodes its `parallel`
    requests together; other backends are not thread-safe and get one slot.
    """

    def __init__(self, backend: Any):
        from concurrent.futures import ThreadPoolExecutor

        self.backend = backend
        slots = getattr(backend, "parallel", 1)
        self.lock = asyncio.Semaphore(slots)
        # Own threads: the default executor has min(32, cores + 4) of them, fewer than 16 parallel requests.
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="generation")

    async def _run(self, work: Callable[[], Any]) -> asyncio.Future:
        """Waits for a slot, then starts `work` in a worker thread that holds it until the thread ends."""
        await self.lock.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self.pool, work)
        except BaseException:
            self.lock.release()
            raise
        future.add_done_callback(lambda _: self.lock.release())  # the thread, not the request, holds the slot
        return future

    async def complete(self, prompt: str, gen: GenerationConfig,
                       cancel: threading.Event) -> tuple[str, GenerationStats]:
        """The whole generation at once: no per-token hops to the event loop, which cost ~5 % on 2 cores."""

        def work() -> tuple[str, GenerationStats]:
            if cancel.is_set():  # the client left while it waited for the model
                return "", GenerationStats(finish_reason="cancelled")
            text = "".join(self.backend.stream(prompt, gen, cancel))
            return text, dataclasses.replace(self.backend.stats)

        future = await self._run(work)
        try:
            return await asyncio.shield(future)
        finally:
            cancel.set()  # a no-op once it is done; stops the thread if this request was cancelled

    async def stream(self, prompt: str, gen: GenerationConfig,
                     cancel: threading.Event) -> AsyncIterator[tuple[str, Any]]:
        """Yields ("text", str)… then ("done", GenerationStats); raises what the backend raised."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def put(item: tuple[str, Any]) -> None:
            if not cancel.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            if cancel.is_set():
                return
            try:
                for chunk in self.backend.stream(prompt, gen, cancel):
                    put(("text", chunk))
                put(("done", dataclasses.replace(self.backend.stats)))
            except BaseException as e:
                put(("error", e))

        await self._run(work)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    raise value
                yield kind, value
                if kind == "done":
                    return
        finally:  # closed early (disconnect, cancellation): stop the generation
            cancel.set()


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def _usage(stats: GenerationStats) -> dict[str, int]:
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens}


class _Trim:
    """Strips a streamed channel like `parse_assistant` strips its parts: no leading or trailing whitespace.
    Trailing whitespace is held back until more text follows it, so joined deltas equal the parsed field."""

    def __init__(self) -> None:
        self.started = False
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            if not text:
                return ""
            self.started = True
        text = self.pending + text
        kept = text.rstrip()
        self.pending = text[len(kept) :]
        return kept


# ---------------------------------------------------------------------------------------------------- app


def check_api_key(api_key: str | None) -> None:
    """None serves without auth; a key must be one a client can send. Raises ValueError."""
    if api_key is None:
        return
    if not api_key.strip():
        raise ValueError("the API key is empty: pass a real key to --api-key (or SMOLTHINK_API_KEY), or leave "
                         "both unset to serve without one")
    if api_key != api_key.strip():
        raise ValueError("the API key starts or ends with whitespace, which an Authorization header cannot carry")


def create_app(
    backend: Any,
    *,
    model_name: str,
    api_key: str | None = None,
    max_tokens_cap: int | None = None,
    max_body_bytes: int = 1_000_000,
) -> FastAPI:
    """The FastAPI app serving `backend` under the OpenAI API. `api_key` set: Bearer auth on /v1/*."""
    check_api_key(api_key)
    app = FastAPI(title="smolthink", docs_url=None, redoc_url=None)
    generator = Generator(backend)
    check_prompt = prompt_bounds(backend)
    started = int(time.time())

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError) -> JSONResponse:
        return e.response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        return APIError(500, f"internal error: {type(e).__name__}: {e}", type="server_error").response()

    @app.exception_handler(404)
    async def _not_found(request: Request, e: Exception) -> JSONResponse:
        return APIError(404, f"no route {request.method} {request.url.path}", code="not_found").response()

    @app.exception_handler(405)
    async def _not_allowed(request: Request, e: Exception) -> JSONResponse:
        return APIError(405, f"method {request.method} not allowed on {request.url.path}").response()

    def check_auth(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer <key>')",
                           type="authentication_error", code="invalid_api_key")

    async def read_body(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            raise APIError(413, f"request body is over {max_body_bytes} bytes", code="request_too_large")
        body = bytearray()
        async for chunk in request.stream():  # also bounds chunked bodies that send no Content-Length
            body += chunk
            if len(body) > max_body_bytes:
                raise APIError(413, f"request body is over {max_body_bytes} bytes", code="request_too_large")
        try:
            value = json.loads(body)
        except ValueError as e:  # also bad UTF-8, and integers over Python's 4300-digit limit
            raise APIError(400, f"request body is not valid JSON: {e}") from None
        except RecursionError:
            raise APIError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
        check_json(value)
        return value

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        check_auth(request)
        return {"object": "list",
                "data": [{"id": model_name, "object": "model", "created": started, "owned_by": "smolthink"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        check_auth(request)
        raw = await read_body(request)
        if not isinstance(raw, dict):
            raise APIError(400, "request body must be a JSON object")
        check_fields(raw)
        try:
            req = ChatRequest.model_validate(raw)
        except ValidationError as e:
            raise _validation_error(e) from None
        messages, tools = to_conversation(req)
        try:
            prompt = render_prompt(backend, messages, tools, enable_thinking=thinking(req, backend))
        except Exception as e:  # a model's own template may reject a conversation (raise_exception)
            raise APIError(400, f"the chat template rejected the conversation: {e}", param="messages") from None
        check_prompt(prompt)
        # Counted here, in a worker thread and outside the model's lock, so that a prompt that does not fit is
        # refused without waiting for (or holding up) the generations in the queue.
        try:
            check_context(await asyncio.to_thread(backend.count_tokens, prompt), backend.n_ctx)
        except ValueError as e:
            raise APIError(400, str(e), param="messages", code="context_length_exceeded") from None
        # Without max_tokens a reply may fill the context window (the backend stops there), as in llama-server.
        requested = req.max_completion_tokens or req.max_tokens or backend.n_ctx
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        gen = GenerationConfig(
            max_new_tokens=min(requested, max_tokens_cap or requested),
            temperature=req.temperature if req.temperature is not None else 0.0,
            top_p=req.top_p if req.top_p is not None else 1.0,
            seed=req.seed if req.seed is not None else 0,
            stop=[s for s in stop if s],  # "" would stop before the first token in llama.cpp, and means nothing
        )
        if tools and _forces_call(req) and backend.tool_style != "xml":
            raise APIError(400, "a forced tool_choice (required or a named function) is enforced with a grammar for "
                           "<tool_call> JSON calls, and this model writes its calls as SmolLM3's python_tools "
                           "(<code>f(x=1)</code>): use tool_choice \"auto\"", param="tool_choice")
        gen.grammar = reply_grammar(req, tools, generation_prefix(prompt))
        if gen.grammar and not getattr(backend, "supports_grammar", False):
            raise APIError(400, f"this request needs constrained decoding (tool_choice {req.tool_choice!r} or "
                           f"response_format), which the {backend.name} backend does not have: serve with "
                           "--backend llama", param="tool_choice" if req.tool_choice else "response_format")
        if gen.grammar and hasattr(backend, "check_grammar"):  # compiled before queueing (transformers: xgrammar)
            try:
                await asyncio.to_thread(backend.check_grammar, gen.grammar)
            except (UserError, ValueError) as e:
                raise APIError(400, f"cannot enforce this request on the {backend.name} backend: {e}",
                               param="tool_choice" if req.tool_choice else "response_format") from None
        offered = {t["function"]["name"] for t in tools} if tools else None
        job = Job(prompt, gen, offered, req.parallel_tool_calls is not False,
                  {"id": _completion_id(), "created": int(time.time()), "model": req.model or model_name},
                  tool_style=backend.tool_style)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(_sse(request, generator, job, include_usage),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        async with cancel_on_disconnect(request) as cancel:
            return await _complete(generator, job, cancel)

    return app


def _generation_error(e: BaseException) -> APIError:
    if isinstance(e, ValueError):  # e.g. the prompt does not fit the context window
        return APIError(400, str(e))
    return APIError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error")


ARGUMENT_FRAGMENT = 16  # characters of arguments per streamed delta, like a few tokens' worth from vLLM


class Reply:
    """Generated text → OpenAI deltas, one code path for streamed and whole replies (so they always agree).

    Reasoning streams as `reasoning_content` and `reasoning` (vLLM's name), the answer as `content`. A
    `<tool_call>` block is held back until it closes, then sent in OpenAI's delta shape: the id, type and name
    first, then the arguments in fragments. What the client could not use is never dropped, it comes back as
    content with a `warnings` entry: a block that does not parse, a call to a function that was not offered, and
    the reasoning of a turn that never closed its `<think>` (an untuned model may never emit `</think>`, and a
    reply must not be empty). `parallel: False` keeps the first call only, as OpenAI does. With
    `tool_style="python"` (SmolLM3's python_tools) a `<code>f(x=1)</code>` block is a call the same way, and a
    `<code>` block that is not call-shaped is plain content.
    """

    def __init__(self, prefix: str, offered: set[str] | None, *, parallel: bool = True, tool_style: str = "xml"):
        self.splitter = StreamSplitter(tool_style)
        self.splitter.feed(prefix)  # only sets the state the pre-filled prompt leaves the model in; not sent
        self.offered, self.parallel = offered, parallel
        self.trims = {"reasoning": _Trim(), "content": _Trim()}
        self.reasoning = ""
        self.call: str | None = None  # the payload of the open <tool_call> (or <code>) block
        self.tags = (CALL_OPEN, CALL_CLOSE)  # the open block's tags
        self.calls = 0
        self.seen: set[str] = set()  # calls already returned, as canonical JSON

    def feed(self, text: str) -> list[dict[str, Any]]:
        return self._route(self.splitter.feed(text))

    def finish(self) -> list[dict[str, Any]]:
        out = self._route(self.splitter.flush(), final=True)
        if self.splitter.state == "reasoning":
            out += self._text("content", self.reasoning, "unterminated <think> block: the turn ended before "
                              "</think>; its reasoning is returned as content too")
        return out

    def _route(self, events: list[tuple[str, str]], *, final: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, piece in events:
            if kind in ("tool_call", "code"):
                tags = (CALL_OPEN, CALL_CLOSE) if kind == "tool_call" else (CODE_OPEN, CODE_CLOSE)
                if self.call is not None and self.tags != tags:
                    out += self._close_call(closed=True)  # a <code> block right after a <tool_call> one
                self.call, self.tags = (self.call or "") + piece, tags
                continue
            if self.call is not None:
                out += self._close_call(closed=True)
            if kind == "reasoning":
                self.reasoning += piece
            out += self._text(kind, piece)
        in_block = self.splitter.state in ("tool_call", "code")
        if self.call is not None and (final or not in_block):
            out += self._close_call(closed=not in_block)
        return out

    def _text(self, kind: str, piece: str, warning: str | None = None) -> list[dict[str, Any]]:
        piece = self.trims[kind].feed(piece)
        delta: dict[str, Any] = {}
        if piece:
            delta = {"content": piece} if kind == "content" else {"reasoning_content": piece, "reasoning": piece}
        if warning:
            delta["warnings"] = [warning]
        return [delta] if delta else []

    def _close_call(self, *, closed: bool) -> list[dict[str, Any]]:
        payload, self.call = self.call or "", None
        raw = self.tags[0] + payload + (self.tags[1] if closed else "")
        parsed = parse_assistant(raw)
        if self.tags[0] == CODE_OPEN and not parsed.tool_calls and not parsed.call_errors:
            return self._text("content", raw)  # code in an answer, not a call
        problems = list(parsed.call_errors)
        names = [c["function"]["name"] for c in parsed.tool_calls]
        if self.offered is None and names:
            problems.append(f"the model called {names[0]!r}, but no tools are offered (tool_choice none or no "
                            "tools)")
        elif self.offered is not None:
            problems += [f"the model called {n!r}, which is not among the offered tools" for n in names
                         if n not in self.offered]
        if problems or not parsed.tool_calls:
            return self._text("content", raw, "malformed tool call returned as content: " + "; ".join(
                problems or ["empty <tool_call> block"]))
        out: list[dict[str, Any]] = []
        for call in parsed.tool_calls:
            fn = call["function"]
            key = json.dumps(fn, sort_keys=True)
            if key in self.seen:  # small models repeat themselves; running a call twice never helps
                out.append({"warnings": [f"dropped a repeated call to {fn['name']!r} with the same arguments"]})
                continue
            if self.calls and not self.parallel:
                out.append({"warnings": [f"parallel_tool_calls is false: dropped the extra call to {fn['name']!r}"]})
                continue
            self.seen.add(key)
            index, self.calls = self.calls, self.calls + 1
            out.append({"tool_calls": [{"index": index, "id": _call_id(), "type": "function",
                                        "function": {"name": fn["name"], "arguments": ""}}]})
            arguments = json.dumps(fn["arguments"], ensure_ascii=False)
            out += [{"tool_calls": [{"index": index, "function": {"arguments": arguments[i : i + ARGUMENT_FRAGMENT]}}]}
                    for i in range(0, len(arguments), ARGUMENT_FRAGMENT)]
        return out

    def finish_reason(self, stats: GenerationStats) -> str:
        return "tool_calls" if self.calls else ("length" if stats.finish_reason == "length" else "stop")


def merge_deltas(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole message the deltas of a `Reply` add up to (what a streaming client assembles)."""
    content, reasoning, warnings = [], [], []
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas:
        content.append(d.get("content", ""))
        reasoning.append(d.get("reasoning_content", ""))
        warnings += d.get("warnings", [])
        for tc in d.get("tool_calls", []):
            if tc["index"] not in calls:
                calls[tc["index"]] = {k: v for k, v in tc.items() if k != "index"}
            else:
                calls[tc["index"]]["function"]["arguments"] += tc["function"]["arguments"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    message["reasoning_content"] = message["reasoning"] = "".join(reasoning) or None
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    if warnings:
        message["warnings"] = warnings
    return message


@dataclasses.dataclass
class Job:
    """One request's generation: the prompt, its sampling and what the reply may hold."""

    prompt: str
    gen: GenerationConfig
    offered: set[str] | None
    parallel: bool
    meta: dict[str, Any]
    tool_style: str = "xml"  # how the model writes its calls (backend.tool_style)

    def reply(self) -> Reply:
        return Reply(generation_prefix(self.prompt), self.offered, parallel=self.parallel, tool_style=self.tool_style)


async def _complete(generator: Generator, job: Job, cancel: threading.Event) -> dict:
    try:
        text, stats = await generator.complete(job.prompt, job.gen, cancel)
    except Exception as e:
        raise _generation_error(e) from None
    reply = job.reply()
    message = merge_deltas(reply.feed(text) + reply.finish())
    return {**job.meta, "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason(stats),
                         "logprobs": None}],
            "usage": _usage(stats)}


async def _sse(request: Request, generator: Generator, job: Job, include_usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {**job.meta, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    reply, stats = job.reply(), GenerationStats()
    yield chunk({"role": "assistant"})
    try:
        async with cancel_on_disconnect(request) as cancel, \
                aclosing(generator.stream(job.prompt, job.gen, cancel)) as events:
            async for kind, value in events:
                if kind == "done":
                    stats = value
                    continue
                for delta in reply.feed(value):
                    yield chunk(delta)
    except Exception as e:  # headers are gone: report in-band, the way OpenAI streams errors
        yield f"data: {json.dumps(_generation_error(e).body())}\n\n"
        yield "data: [DONE]\n\n"
        return
    for delta in reply.finish():
        yield chunk(delta)
    yield chunk({}, reply.finish_reason(stats))
    if include_usage:
        body = {**job.meta, "object": "chat.completion.chunk", "choices": [], "usage": _usage(stats)}
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


# ---------------------------------------------------------------------------------------------------- CLI


def serve_command(
    model: str | None = None,
    backend: str = "auto",
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_tokens_cap: int | None = None,
    max_body_bytes: int = 1_000_000,
    ctx_size: int | None = None,
    think: bool | None = None,
    parallel: int = 1,
    gpu_layers: int | None = None,
    console: Any = None,
    trust_remote_code: bool = False,
) -> None:
    """Load the model and serve it until interrupted (what `smolthink serve` runs). `ctx_size` None: the
    model's trained context window; `think` None: think by default iff the model was trained to."""
    import uvicorn
    from rich.console import Console

    from smolthink.backends import load_backend

    console = console or Console()
    check_api_key(api_key)  # before the model loads: a bad key should not cost that wait
    # llama.cpp always serves through the batched engine, even one request at a time: its sampler applies a
    # grammar cheaply (tool_choice, response_format), which Llama.create_completion does not.
    loaded = load_backend(model, backend, n_ctx=ctx_size, parallel=parallel, gpu_layers=gpu_layers,
                          trust_remote_code=trust_remote_code)
    if think is not None:
        loaded.thinks = think
    name = model or "smollm2-135m"
    app = create_app(loaded, model_name=name, api_key=api_key, max_tokens_cap=max_tokens_cap,
                     max_body_bytes=max_body_bytes)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Serving [bold]{name}[/] ({loaded.name}, {loaded.n_ctx}-token context, "
                  f"{getattr(loaded, 'parallel', 1)} at a time, thinking "
                  f"{'on' if loaded.thinks else 'off'} by default) at [bold]http://{shown}:{port}/v1[/]"
                  + ("  (API key required)" if api_key else ""))
    uvicorn.run(app, host=host, port=port, log_level="info")
