"""The Ollama Modelfile that `smolthink export` writes beside a GGUF: its TEMPLATE renders smolthink's chat format.

Ollama is not installable here, so its template engine is stood in for by `render_go`, a small interpreter of the
Go text/template subset the TEMPLATE uses (text, {{- -}} trimming, fields, $variables with := and =, if / else if /
else, range with index and element, and eq ne not and or len slice index), over the values Ollama passes a chat
template (.System, .Messages with .Role .Content .Thinking .ToolCalls, .Tools, .Think, .IsThinkSet). Ollama prints
a tool's .Function and a call's .Function.Arguments as JSON (their String methods, Go's compact json.Marshal);
`render_go` prints them as Python's json.dumps does, like the jinja template's tojson — the one approximation.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from smolthink.export import OLLAMA_STOPS, OLLAMA_TEMPLATE, ollama_modelfile
from smolthink.formats import chat_template, render, tool_call

# ------------------------------------------------------------------------------- a Go text/template subset

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\)(?:\.\w+)*|\(|[^\s()]+')


def _parse(source: str) -> list:
    """Nodes: str (text), ("out", expr), ("set", name, expr, declare), ("if", [(cond, body)], else_body),
    ("range", key, value, expr, body)."""
    items: list = []
    pos, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        text = text.lstrip() if trim_next else text
        items.append(text.rstrip() if match.group(1) else text)
        items.append(match.group(2).strip())
        items[-1] = ("action", items[-1])
        pos, trim_next = match.end(), bool(match.group(3))
    tail = source[pos:]
    items.append(tail.lstrip() if trim_next else tail)

    root: list = []
    stack: list = [root]  # the body being filled
    opened: list = []  # the if/range nodes being filled
    for item in items:
        if isinstance(item, str):
            stack[-1].append(item)
            continue
        action = item[1]
        if action.startswith("if "):
            node = ("if", [(action[3:], [])], [])
            stack[-1].append(node)
            opened.append(node)
            stack.append(node[1][0][1])
        elif action.startswith("else if "):
            stack.pop()
            opened[-1][1].append((action[8:], []))
            stack.append(opened[-1][1][-1][1])
        elif action == "else":
            stack.pop()
            stack.append(opened[-1][2])
        elif action == "end":
            stack.pop()
            opened.pop()
        elif action.startswith("range "):
            head = action[6:]
            key = value = None
            if ":=" in head:
                names, head = (part.strip() for part in head.split(":=", 1))
                parts = [n.strip() for n in names.split(",")]
                key, value = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
            node = ("range", key, value, head, [])
            stack[-1].append(node)
            opened.append(node)
            stack.append(node[4])
        elif m := re.fullmatch(r"(\$\w+)\s*(:?=)\s*(.+)", action, re.DOTALL):
            stack[-1].append(("set", m.group(1), m.group(3), m.group(2) == ":="))
        else:
            stack[-1].append(("out", action))
    assert not opened, "unclosed if/range"
    return root


def _truth(value: Any) -> bool:
    return not (value is None or value is False or value == 0 or value == "" or value == [] or value == {})


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)  # Ollama: Go's json.Marshal (compact); see the module doc
    return "<no value>" if value is None else str(value)


class _Scope:
    def __init__(self, root: Any):
        self.root, self.frames = root, [{"$": root}]

    def lookup(self, name: str) -> Any:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        raise KeyError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        for frame in reversed(self.frames):
            if name in frame:
                frame[name] = value
                return
        raise KeyError(f"assignment to undeclared variable {name}")


def _fields(value: Any, chain: str) -> Any:
    for name in filter(None, chain.split(".")):
        value = value[name]  # a missing field is an error in Go (a struct has no such field): KeyError here
    return value


def _eval(tokens: list[str], scope: _Scope, dot: Any) -> Any:
    """Evaluate one command (a function call or a single operand) from `tokens`, consumed in place."""
    def operand() -> Any:
        token = tokens.pop(0)
        if token == "(":
            inner = []
            depth = 1
            while True:
                t = tokens.pop(0)
                depth += (t == "(") - t.startswith(")")
                if depth == 0:
                    value = _eval(inner, scope, dot)
                    return _fields(value, t[1:])
                inner.append(t)
        if token.startswith('"'):
            return ast.literal_eval(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token.startswith("."):
            return _fields(dot, token)
        if token.startswith("$"):
            name, _, chain = token.partition(".")
            return _fields(scope.lookup(name), chain)
        raise ValueError(f"unexpected {token!r}")

    def lazy_args() -> list:
        args = []
        while tokens:
            start = len(tokens)
            taken = [tokens.pop(0)]
            if taken[0] == "(":
                depth = 1
                while depth:
                    t = tokens.pop(0)
                    depth += (t == "(") - t.startswith(")")
                    taken.append(t)
            args.append(lambda taken=taken: operand_of(taken))
            assert len(tokens) < start
        return args

    def operand_of(taken: list[str]) -> Any:
        return _eval(list(taken), scope, dot)

    functions = {
        "eq": lambda a, *bs: any(a() == b() for b in bs),
        "ne": lambda a, b: a() != b(),
        "not": lambda a: not _truth(a()),
        "len": lambda a: len(a()),
        "slice": lambda a, i, j=None: a()[i():] if j is None else a()[i():j()],
        "index": lambda a, i: a()[i()],
    }
    head = tokens[0]
    if head in ("and", "or"):  # Go 1.18+: both stop at the first argument that decides
        tokens.pop(0)
        value = None
        for arg in lazy_args():
            value = arg()
            if _truth(value) == (head == "or"):
                return value
        return value
    if head in functions:
        tokens.pop(0)
        return functions[head](*lazy_args())
    value = operand()
    assert not tokens, f"unexpected {tokens!r}"
    return value


def _run(nodes: list, scope: _Scope, dot: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "out":
            out.append(_show(_eval(_TOKEN.findall(node[1]), scope, dot)))
        elif node[0] == "set":
            value = _eval(_TOKEN.findall(node[2]), scope, dot)
            scope.frames[-1].__setitem__(node[1], value) if node[3] else scope.assign(node[1], value)
        elif node[0] == "if":
            body = next((b for cond, b in node[1] if _truth(_eval(_TOKEN.findall(cond), scope, dot))), node[2])
            scope.frames.append({})
            _run(body, scope, dot, out)
            scope.frames.pop()
        else:
            _, key, value, expr, body = node
            for i, element in enumerate(_eval(_TOKEN.findall(expr), scope, dot)):
                scope.frames.append({**({key: i} if key else {}), **({value: element} if value else {})})
                _run(body, scope, element, out)
                scope.frames.pop()


def render_go(template: str, values: dict[str, Any]) -> str:
    out: list[str] = []
    _run(_parse(template), _Scope(values), values, out)
    return "".join(out)


def ollama_values(messages: list[dict], tools: list[dict] | None, think: bool | None) -> dict[str, Any]:
    """What Ollama's /api/chat hands a chat template for these messages (smolthink's schema) and `think`."""
    def message(m: dict) -> dict:
        calls = [{"Function": {"Name": c["function"]["name"], "Arguments": c["function"]["arguments"]}}
                 for c in m.get("tool_calls") or []]
        return {"Role": m["role"], "Content": m.get("content") or "", "Thinking": m.get("reasoning") or "",
                "ToolCalls": calls}

    return {
        "System": "\n\n".join(m["content"] for m in messages if m["role"] == "system"),
        "Messages": [message(m) for m in messages],
        "Tools": [{"Type": "function", "Function": t["function"]} for t in tools or []],
        "Think": bool(think), "IsThinkSet": think is not None,
    }


def modelfile_template(text: str) -> str:
    return re.search(r'^TEMPLATE """(.*?)"""$', text, re.MULTILINE | re.DOTALL).group(1)


# ------------------------------------------------------------------------------------------------------ tests

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"]}}}
CALC = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate arithmetic.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}

CONVERSATIONS = {
    "one tool call": ([
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "reasoning": "The user wants the weather in Paris; get_weather fits.", "content": "",
         "tool_calls": [tool_call("get_weather", {"city": "Paris"})]},
        {"role": "tool", "content": '{"temp_c": 18, "sky": "cloudy"}'},
    ], [WEATHER]),
    "two calls, two results, an answer and a new turn": ([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo and 3*7?"},
        {"role": "assistant", "reasoning": "Two tools.", "content": "Checking both.",
         "tool_calls": [tool_call("get_weather", {"city": "Oslo"}), tool_call("calculator", {"expression": "3*7"})]},
        {"role": "tool", "content": "-2 C, snow"},
        {"role": "tool", "content": "21"},
        {"role": "assistant", "reasoning": "Both came back.", "content": "Oslo: -2 C with snow; 3*7 = 21."},
        {"role": "user", "content": "Thanks! And Rome?"},
    ], [WEATHER, CALC]),
    "no system, no tools": ([{"role": "user", "content": "Hi there"}], None),
}


@pytest.mark.parametrize("think", [True, False])
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_modelfile_template_renders_as_the_chat_template(name, think):
    messages, tools = CONVERSATIONS[name]
    expected = render(messages, tools, enable_thinking=think, add_generation_prompt=True)
    template = modelfile_template(ollama_modelfile("m.gguf", chat_template(), trained_to_think=True, n_ctx=8192))
    assert render_go(template, ollama_values(messages, tools, think)) == expected


def test_thinking_defaults_follow_training_and_the_request_decides():
    messages, tools = CONVERSATIONS["one tool call"]
    for trained in (True, False):
        template = modelfile_template(ollama_modelfile("m.gguf", chat_template(), trained_to_think=trained, n_ctx=8192))
        unset = render_go(template, ollama_values(messages, tools, None))
        assert unset == render(messages, tools, enable_thinking=trained, add_generation_prompt=True)


def test_modelfile_lines():
    text = ollama_modelfile("run-q4_k_m.gguf", chat_template(), trained_to_think=False, n_ctx=8192)
    lines = text.splitlines()
    assert lines[0].startswith("# Ollama Modelfile written by smolthink export: ollama create run-q4_k_m -f run-q4_k_m.Modelfile")
    assert lines[1] == "FROM ./run-q4_k_m.gguf"
    assert [f'PARAMETER stop "{s}"' for s in OLLAMA_STOPS] == [line for line in lines if line.startswith("PARAMETER stop")]
    assert "PARAMETER temperature 0" in lines and "PARAMETER num_ctx 8192" in lines
    assert '"""' not in OLLAMA_TEMPLATE
    # A model's own template (not smolthink's): no TEMPLATE, Ollama reads the GGUF's.
    assert "TEMPLATE" not in ollama_modelfile("m.gguf", "{{ messages }}", trained_to_think=False, n_ctx=2048)
