"""The conversation schema and the think / tool-call syntax: the one vocabulary every stage speaks.

A conversation is a list of plain dicts (what `datasets`, TRL and chat templates already use):

    {"role": "system",    "content": str}
    {"role": "user",      "content": str}
    {"role": "assistant", "content": str, "reasoning": str | None,
                          "tool_calls": [{"type": "function", "function": {"name": str, "arguments": dict}}]}
    {"role": "tool",      "name": str, "content": str}

plus a `tools` list of JSON schemas `{"type": "function", "function": {"name", "description", "parameters"}}`.
Internally the thinking is always `reasoning` and tool-call arguments are always dicts; other spellings
(`reasoning_content`, `thinking`, JSON-string arguments) are mapped by `normalize_message` at the edges.

On the wire (the SmolLM2 template in templates/smollm2.jinja renders it, `parse_assistant` reads it back):

    <think>
    {reasoning}
    </think>

    {content}
    <tool_call>
    {"name": "f", "arguments": {"x": 1}}
    </tool_call>

The parser also reads the SmolLM2 JSON-list form `<tool_call>[{"name": …, "arguments": …}]</tool_call>`, the
Python-literal dicts of the Hermes datasets and SmolLM3's `python_tools` calls `<code>f(x=1, y="a")</code>`, and
never raises: problems come back in `ParsedOutput.errors` / `call_errors`.

A model's own chat template (a recipe's `chat_template: model`, or a tool-aware model at inference) gets the same
conversations: what it does not read itself (SmolLM3's reads only `content`) is written into the content the way
the model writes it, `<think>` first, then the calls (`model_messages`).
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
CODE_OPEN, CODE_CLOSE = "<code>", "</code>"  # SmolLM3's python_tools calls: <code>f(x=1)</code>
END_OF_TURN = "<|im_end|>"
ASSISTANT_HEADER = "<|im_start|>assistant\n"
ROLES = ("system", "user", "assistant", "tool")
_REASONING_ALIASES = ("reasoning_content", "thinking")


@cache
def chat_template() -> str:
    """The SmolLM2 chat template shipped with smolthink (ChatML + tools + dual mode + generation markers)."""
    return resources.files("smolthink").joinpath("templates/smollm2.jinja").read_text(encoding="utf-8")


def is_tool_aware(template: str | None) -> bool:
    """True for templates that render a `tools` list themselves (SmolLM3, Qwen…): such models keep theirs."""
    return bool(template) and "tools" in template and "tool_call" in template


# transformers' own test for `return_assistant_tokens_mask` (apply_chat_template warns without it)
_GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_spans(template: str | None) -> bool:
    """True when the template marks what the model generates with {% generation %}: assistant-only loss needs it."""
    return bool(template) and bool(_GENERATION_RE.search(template))


def template_sha256(template: str) -> str:
    """The hash a build's manifest records for the chat template its data was rendered with."""
    import hashlib

    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def thinking_mode(messages: list[dict[str, Any]], enable_thinking: bool = True) -> bool:
    """The mode a conversation renders in (SmolLM3 semantics, which templates/smollm2.jinja follows too):
    "/no_think" or "/think" in the system message wins over `enable_thinking`."""
    system = (messages[0].get("content") or "") if messages and messages[0].get("role") == "system" else ""
    if "/no_think" in system:
        return False
    if "/think" in system:
        return True
    return enable_thinking


# --------------------------------------------------------------------------------------------------- schema


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One tool call in the schema's form."""
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def normalize_message(message: dict[str, Any]) -> dict[str, Any]:
    """Map the spellings seen in the wild onto the schema: reasoning aliases, flat or JSON-string tool calls.

    Raises ValueError (naming the field) for a message that cannot be mapped.
    """
    msg = dict(message)
    for alias in _REASONING_ALIASES:
        if alias in msg:
            value = msg.pop(alias)
            if msg.get("reasoning") is None:
                msg["reasoning"] = value
    raw = msg.get("tool_calls") or []
    if not isinstance(raw, list):
        raise ValueError(f"tool_calls: expected a list of calls, got {type(raw).__name__}")
    calls = []
    for i, call in enumerate(raw):
        fn = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ValueError(f"tool_calls[{i}]: expected {{'function': {{'name': str, 'arguments': dict}}}}, got {call!r}")
        arguments = fn.get("arguments", {})
        if isinstance(arguments, str):  # the OpenAI API sends arguments as a JSON string
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f"tool_calls[{i}].function.arguments: not valid JSON ({e})") from None
        if not isinstance(arguments, dict):
            raise ValueError(f"tool_calls[{i}].function.arguments: expected an object, got {type(arguments).__name__}")
        calls.append(tool_call(fn["name"], arguments))
    if "tool_calls" in msg:
        msg["tool_calls"] = calls
    return msg


def validate_conversation(messages: Any, tools: Any = None) -> list[str]:
    """Problems with a conversation, each naming the message index and field; empty when it is valid."""
    errors: list[str] = []
    if not isinstance(messages, list) or not messages:
        return ["messages: expected a non-empty list of message objects"]
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            errors.append(f"{where}: expected an object, got {type(m).__name__}")
            continue
        role = m.get("role")
        if role not in ROLES:
            errors.append(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
            continue
        if role == "system" and i != 0:
            errors.append(f"{where}: a system message may only come first")
        content = m.get("content")
        if role == "assistant":
            if content is not None and not isinstance(content, str):
                errors.append(f"{where}.content: expected a string")
            if m.get("reasoning") is not None and not isinstance(m["reasoning"], str):
                errors.append(f"{where}.reasoning: expected a string")
            try:
                normalize_message(m)
            except ValueError as e:
                errors.append(f"{where}.{e}")
            if not (content or m.get("tool_calls") or m.get("reasoning")):
                errors.append(f"{where}: an assistant message needs content, reasoning or tool_calls")
        elif not isinstance(content, str):
            errors.append(f"{where}.content: expected a string")
    if tools is not None:
        if not isinstance(tools, list):
            errors.append("tools: expected a list of function schemas")
        else:
            for j, t in enumerate(tools):
                fn = t.get("function") if isinstance(t, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    errors.append(f"tools[{j}]: expected {{'type': 'function', 'function': {{'name': …, 'parameters': …}}}}")
    return errors


# -------------------------------------------------------------------------------------------------- render

TOOL_STYLES = ("xml", "python")  # SmolLM3's two tool kwargs: xml_tools (<tool_call>{json}) and python_tools (<code>)
_READS_REASONING = re.compile(r"""(\.|\[['"])(reasoning|reasoning_content|thinking)\b""")
_READS_TOOL_CALLS = re.compile(r"""(\.|\[['"])tool_calls\b""")


def python_call(name: str, arguments: dict[str, Any]) -> str:
    """A call in SmolLM3's python_tools form, `f(x=1, y='a')`: Python literals, which `parse_assistant` reads back."""
    bad = [k for k in arguments if not str(k).isidentifier() or keyword.iskeyword(k)]
    if bad:
        raise ValueError(f"tool call {name!r}: argument names {bad} cannot be Python keyword arguments")
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


def model_messages(
    messages: list[dict[str, Any]], template: str, *, thinking: bool, tool_style: str = "xml"
) -> list[dict[str, Any]]:
    """Normalized messages as a model's own template reads them.

    A template that reads `reasoning` / `reasoning_content` and `tool_calls` (Qwen3) gets them as they are. One
    that reads only `content` (SmolLM3) gets them written into the content as the model writes them: a
    `<think>` block first (in think mode; in no-think mode the template writes the empty block and the reasoning is
    dropped, as smolthink's template does), then each call as `<tool_call>{json}</tool_call>`, or as
    `<code>f(x=1)</code>` with `tool_style: python` (always: a python_tools model writes its calls that way).
    """
    if tool_style not in TOOL_STYLES:
        raise ValueError(f"tool_style must be one of {', '.join(TOOL_STYLES)}, got {tool_style!r}")
    reads_reasoning = bool(_READS_REASONING.search(template))
    reads_calls = bool(_READS_TOOL_CALLS.search(template)) and tool_style == "xml"
    out = []
    for m in messages:
        if m.get("role") != "assistant":
            out.append(m)
            continue
        m = dict(m)
        content = m.get("content") or ""
        if not reads_calls and m.get("tool_calls"):
            for i, call in enumerate(m.pop("tool_calls")):
                fn = call["function"]
                if tool_style == "python":
                    block = CODE_OPEN + python_call(fn["name"], fn["arguments"]) + CODE_CLOSE
                else:
                    payload = json.dumps({"name": fn["name"], "arguments": fn["arguments"]}, ensure_ascii=False)
                    block = f"{CALL_OPEN}\n{payload}\n{CALL_CLOSE}"
                content += ("\n" if content or i else "") + block
        if reads_reasoning:
            m.setdefault("reasoning_content", m.get("reasoning"))  # Qwen3's spelling; normalize_message maps it away
        else:
            reasoning = m.pop("reasoning", None)
            if thinking:
                content = f"{THINK_OPEN}\n{reasoning or ''}\n{THINK_CLOSE}\n\n{content}"
        m["content"] = content
        out.append(m)
    return out


def render(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    enable_thinking: bool = True,
    add_generation_prompt: bool = False,
    template: str | None = None,
    tool_style: str = "xml",
) -> str:
    """Render a conversation to prompt text with smolthink's template (or a model's own tool-aware one).

    Goes through transformers' sandboxed chat-template renderer, the same code path `apply_chat_template`
    and TRL use, so training and inference see byte-identical text. `tool_style` applies to a model's own
    template: "python" passes the tools as SmolLM3's `python_tools` (calls as `<code>f(x=1)</code>`).
    """
    return render_spans(
        messages, tools, enable_thinking=enable_thinking, add_generation_prompt=add_generation_prompt,
        template=template, tool_style=tool_style,
    )[0]


def render_spans(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    enable_thinking: bool = True,
    add_generation_prompt: bool = False,
    template: str | None = None,
    tool_style: str = "xml",
) -> tuple[str, list[tuple[int, int]]]:
    """Like `render`, plus the character spans of the text the model generates ({% generation %} blocks):
    the positions that assistant-only training puts in the loss."""
    from transformers.utils.chat_template_utils import render_jinja_template

    normalized = [normalize_message(m) for m in messages]
    extra: dict[str, Any] = {}
    if template and template != chat_template():  # a model's own template
        thinking = thinking_mode(normalized, enable_thinking)
        normalized = model_messages(normalized, template, thinking=thinking, tool_style=tool_style)
        if tool_style == "python" and tools:
            extra["python_tools"], tools = tools, None
    rendered, spans = render_jinja_template(
        [normalized],
        tools=tools or None,
        chat_template=template or chat_template(),
        add_generation_prompt=add_generation_prompt,
        return_assistant_tokens_mask=True,
        enable_thinking=enable_thinking,
        **extra,
    )
    return rendered[0], [tuple(span) for span in spans[0]]


# Every string that means something in a prompt, the one table `neutralize_control_tokens` escapes:
# SmolLM2's special tokens (the tokenizer turns each into its id wherever it appears in the text, so tool output
# holding "<|im_end|>" would end the turn) and the chat format's tags (the template and `parse_assistant` read
# them, so tool output holding "</tool_response><tool_call>…" would forge a response end and a call).
# tests/test_formats.py checks this table against the real tokenizer's special tokens and the template's tags.
CONTROL_TOKENS = (
    # SmolLM2's special tokens, ids 0-16
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<repo_name>", "<reponame>", "<file_sep>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>",
    # the chat format's tags
    THINK_OPEN, THINK_CLOSE, CALL_OPEN, CALL_CLOSE,
    "<tool_response>", "</tool_response>", "<tools>", "</tools>",
    CODE_OPEN, CODE_CLOSE,  # SmolLM3's python_tools calls, which the parser reads as tool calls
)  # fmt: skip
# Case-insensitive: SmolLM2's tokenizer matches its special tokens exactly, but other tokenizers may lowercase
# first, and "<TOOL_CALL>" in a tool result is no more legitimate than "<tool_call>".
_CONTROL_RE = re.compile("|".join(re.escape(t) for t in sorted(CONTROL_TOKENS, key=len, reverse=True)), re.IGNORECASE)
LOOKALIKE_LT = "‹"  # U+2039: shows the tag to a reader, but is no longer the tag for the tokenizer or the parser


def neutralize_control_tokens(text: str) -> str:
    """Escape every control string (CONTROL_TOKENS) in untrusted text: tool results, web pages, user files.

    Each occurrence has its "<" replaced by a lookalike ("</tool_response>" becomes "‹/tool_response>"), so the
    text still reads the same, but it can no longer close a turn or open one, end a tool response, make a tool
    call or a think block, or produce any special-token id. Idempotent: escaped text has nothing left to escape.
    Every tool result passes through here (`smolthink.tools.run_tool_call`, `ChatSession.add_tool_result`, the
    server's tool messages) before it enters a conversation.
    """
    return _CONTROL_RE.sub(lambda m: LOOKALIKE_LT + m.group()[1:], str(text))


def generation_prefix(prompt: str) -> str:
    """What the generation prompt pre-fills after the assistant header (e.g. "<think>\\n"): the model's output
    continues it, so the parser must see prefix + output."""
    at = prompt.rfind(ASSISTANT_HEADER)
    return prompt[at + len(ASSISTANT_HEADER) :] if at >= 0 else ""


# --------------------------------------------------------------------------------------------------- parse


@dataclass
class ParsedOutput:
    """A model's assistant turn, parsed. `errors` lists what was malformed; the parts that parsed are kept."""

    reasoning: str | None
    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # malformed think structure (truncation, stray tags)
    call_errors: list[str] = field(default_factory=list)  # <tool_call> blocks that did not parse into a call

    @property
    def ok(self) -> bool:
        return not (self.errors or self.call_errors)

    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.content, "reasoning": self.reasoning}
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        return msg


def decode_json_or_literal(text: str) -> Any:
    """JSON, else a Python literal: Hermes datasets write tool calls and tool lists as Python dicts ({'name': 'f'}).
    `ast.literal_eval` only builds literals, it never runs code. Raises ValueError when it is neither."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"neither JSON nor a Python literal: {text[:200]!r}") from None


def _calls_from_payload(payload: str) -> tuple[list[dict[str, Any]], list[str]]:
    payload = payload.strip()
    try:
        value = decode_json_or_literal(payload)
    except ValueError:
        return [], [f"tool call is not valid JSON: {payload[:200]!r}"]
    items = value if isinstance(value, list) else [value]  # SmolLM2 emits a JSON list, Hermes one object per tag
    calls, errors = [], []
    for item in items:
        if not isinstance(item, dict):
            errors.append(f"tool call must be an object with 'name' and 'arguments', got {item!r:.200}")
            continue
        name = item.get("name")
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError:
                errors.append(f"tool call {name!r}: arguments are not valid JSON: {arguments[:200]!r}")
                continue
        if not isinstance(name, str) or not name:
            errors.append(f"tool call without a function name: {item!r:.200}")
        elif not isinstance(arguments, dict):
            errors.append(f"tool call {name!r}: arguments must be an object, got {type(arguments).__name__}")
        else:
            calls.append(tool_call(name, arguments))
    return calls, errors


# What a python_tools call looks like: `name(…)` or `module.name(…)`, the whole block. Other <code> text (an answer
# quoting code) stays content; a block of this shape that is not one literal-only call is a call error.
_CALL_SHAPED = re.compile(r"\s*[A-Za-z_][\w.]*\s*\(.*\)\s*$", re.DOTALL)
_CALL_START = re.compile(r"\s*[A-Za-z_][\w.]*\s*\(")


def _call_from_code(payload: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A SmolLM3 python_tools call, `f(x=1, y="a")` (or `mod.f(...)`), as a structured call. The code is parsed,
    never run: it must be one call with keyword arguments whose values are literals (`ast.literal_eval` each)."""
    code = payload.strip()
    where = f"<code> call {code[:200]!r}"
    try:
        node = ast.parse(code, mode="eval").body
    except (SyntaxError, ValueError, MemoryError):
        return [], [f"{where}: not a Python expression"]
    if not isinstance(node, ast.Call):
        return [], [f"{where}: expected one function call f(name=value, …)"]
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return [], [f"{where}: the function must be a name (f or module.f)"]
    name = ".".join([func.id, *reversed(parts)])
    if node.args:
        return [], [f"{where}: positional arguments cannot be matched to parameters; pass them as name=value"]
    arguments: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            return [], [f"{where}: **kwargs is not a literal argument"]
        if kw.arg in arguments:
            return [], [f"{where}: argument {kw.arg!r} given twice"]
        try:
            arguments[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError):
            return [], [f"{where}: argument {kw.arg!r} is not a literal"]
    return [tool_call(name, arguments)], []


def parse_assistant(text: str) -> ParsedOutput:
    """Split an assistant turn into reasoning, answer and tool calls. Never raises.

    `text` is the full turn after the assistant header (include the generation prefix when the prompt pre-filled
    one). Text after an end-of-turn token is ignored. A truncated turn keeps what it has and reports an error.
    """
    try:
        return _parse_assistant(text)
    except RecursionError:  # pathologically nested literals; everything else is handled structurally
        return ParsedOutput(reasoning=None, content=text, errors=["output too deeply nested to parse"])


def _parse_assistant(text: str) -> ParsedOutput:
    errors: list[str] = []
    end = text.find(END_OF_TURN)
    if end >= 0:
        text = text[:end]
    reasoning = None
    rest = text
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        close = stripped.find(THINK_CLOSE)
        if close < 0:
            reasoning, rest = stripped[len(THINK_OPEN) :].strip(), ""
            errors.append("unterminated <think> block: the turn ended before </think>")
        else:
            reasoning, rest = stripped[len(THINK_OPEN) : close].strip(), stripped[close + len(THINK_CLOSE) :]
    elif THINK_CLOSE in text:
        before, _, rest = text.partition(THINK_CLOSE)
        reasoning = before.strip()
        errors.append("</think> without an opening <think>")

    content_parts: list[str] = []
    calls: list[dict[str, Any]] = []
    call_errors: list[str] = []
    pos = 0
    while True:
        hits = [(at, opener) for opener in (CALL_OPEN, CODE_OPEN) if (at := rest.find(opener, pos)) >= 0]
        if not hits:
            content_parts.append(rest[pos:])
            break
        start, opener = min(hits)
        closer, read = (CALL_CLOSE, _calls_from_payload) if opener == CALL_OPEN else (CODE_CLOSE, _call_from_code)
        close = rest.find(closer, start)
        shape = _CALL_SHAPED if close >= 0 else _CALL_START  # a truncated call still starts like one
        if opener == CODE_OPEN and not shape.match(rest[start + len(opener) : close if close >= 0 else None]):
            content_parts.append(rest[pos : start + len(opener)])  # <code>x</code> in an answer is not a call
            pos = start + len(opener)
            continue
        content_parts.append(rest[pos:start])
        if close < 0:
            call_errors.append(f"unterminated {opener} (output truncated?): {rest[start:start + 200]!r}")
            break
        found, bad = read(rest[start + len(opener) : close])
        calls += found
        call_errors += bad
        pos = close + len(closer)
    content = "".join(content_parts).strip()
    reasoning = reasoning or None  # an empty <think></think> block means "no reasoning"
    for tag in (THINK_OPEN, THINK_CLOSE):
        if tag in content:
            errors.append(f"stray {tag} in the answer")
    return ParsedOutput(reasoning=reasoning, content=content, tool_calls=calls, errors=errors, call_errors=call_errors)


class StreamSplitter:
    """Route streamed text to "reasoning", "content" or "tool_call" as tags open and close.

    Tags can arrive split across chunks, so a tail that could still become a tag is held back until the next
    chunk decides it. Feed the generation prefix first so the splitter starts in the right state. With
    `tool_style="python"` a `<code>` block is routed as "code" too (a python_tools call, or code in an answer:
    the parser decides once the block is whole).
    """

    _SWITCH = {
        "content": ((THINK_OPEN, "reasoning"), (CALL_OPEN, "tool_call")),
        "reasoning": ((THINK_CLOSE, "content"),),
        "tool_call": ((CALL_CLOSE, "content"),),
        "code": ((CODE_CLOSE, "content"),),
    }

    def __init__(self, tool_style: str = "xml") -> None:
        self.state = "content"
        self._buf = ""
        self._switch = dict(self._SWITCH)
        if tool_style == "python":
            self._switch["content"] = (*self._SWITCH["content"], (CODE_OPEN, "code"))

    def feed(self, chunk: str) -> list[tuple[str, str]]:
        self._buf += chunk
        out: list[tuple[str, str]] = []
        while True:
            hits = [(self._buf.find(tag), tag, nxt) for tag, nxt in self._switch[self.state]]
            hits = [h for h in hits if h[0] >= 0]
            if not hits:
                break
            at, tag, nxt = min(hits)
            if at:
                out.append((self.state, self._buf[:at]))
            self._buf = self._buf[at + len(tag) :]
            self.state = nxt
        keep = self._partial_tag_len()
        if len(self._buf) > keep:
            out.append((self.state, self._buf[: len(self._buf) - keep]))
            self._buf = self._buf[len(self._buf) - keep :]
        return out

    def flush(self) -> list[tuple[str, str]]:
        out = [(self.state, self._buf)] if self._buf else []
        self._buf = ""
        return out

    def _partial_tag_len(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of a tag that could switch state."""
        best = 0
        for tag, _ in self._switch[self.state]:
            for n in range(min(len(tag) - 1, len(self._buf)), best, -1):
                if self._buf.endswith(tag[:n]):
                    best = n
                    break
        return best
