"""Tools the model can call, and the one safe way to run a tool call.

This package owns:
- `Tool`: a Python function plus the JSON schema shown to the model. The schema
  is always derived from the function's type hints and Google-style docstring
  by `transformers.utils.get_json_schema`, so code and schema cannot drift.
- `run_tool_call`: validate model-written arguments against that schema, run
  the function in a worker thread with a timeout, and turn every outcome
  (success, unknown tool, bad arguments, exception, timeout) into a
  `ToolResult`. It never raises: the model made the call, so the model gets
  the error message and the chat goes on.
- `builtin_tools`: the tools shipped with smolthink, by name; `select_tools`: the ones a user asked for, among
  the built-ins and the functions loaded from their own files (`smolthink.tools.loader`).

Tool output is untrusted text (web pages, user files, whatever a user's function
returns or raises): it is passed back to the model as data and never interpreted
here. Every `ToolResult` that `run_tool_call` returns has its control strings
escaped by `smolthink.formats.neutralize_control_tokens`, so no tool can close
its response, forge a turn or a tool call, or produce a special-token id.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from transformers.utils import get_json_schema

from smolthink.formats import neutralize_control_tokens
from smolthink.tools.calculator import calculator
from smolthink.tools.web_search import web_search

TRUNCATION_MARKER = "… [truncated]"
BUILTIN_TOOL_NAMES = ("web_search", "local_search", "calculator")


@dataclass(frozen=True)
class Tool:
    fn: Callable[..., Any]
    schema: dict  # {"type": "function", "function": {"name", "description", "parameters"}}
    timeout: float = 30.0
    notes: tuple[str, ...] = ()  # for the user, not the model: e.g. the files local_search skipped, and why

    @property
    def name(self) -> str:
        return self.schema["function"]["name"]


@dataclass(frozen=True)
class ToolResult:
    name: str
    content: str  # what is fed back to the model, control strings escaped
    ok: bool  # False for unknown tool, invalid arguments, exception, timeout


def tool(fn: Callable[..., Any], *, timeout: float = 30.0) -> Tool:
    """Build a Tool from a type-hinted function whose docstring has an `Args:` section.

    get_json_schema raises (TypeHintParsingException / DocstringParsingException)
    when a hint or an argument description is missing; that is a programming
    error in the tool, so it is left to propagate.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    return Tool(fn=fn, schema=get_json_schema(fn), timeout=timeout)


def validate_arguments(schema: dict, arguments: object) -> str | None:
    """Check model-written arguments against a tool schema.

    Returns None when they are valid, otherwise a short message naming the
    offending argument (it is shown to the model so it can retry).
    """
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    parameters = schema["function"]["parameters"]
    properties = parameters.get("properties", {})
    unknown = [key for key in arguments if key not in properties]
    if unknown:
        expected = ", ".join(properties) or "no arguments"
        return f"unknown argument {unknown[0]!r} (expected: {expected})"
    missing = [key for key in parameters.get("required", []) if key not in arguments]
    if missing:
        return f"missing required argument {missing[0]!r}"
    validator = jsonschema.Draft202012Validator(_json_schema(parameters))
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    argument = error.absolute_path[0] if error.absolute_path else None
    where = f"argument {argument!r}" if argument is not None else "arguments"
    return f"invalid {where}: {_clip(error.message, 200)}"


def _json_schema(parameters: Any) -> Any:
    """Translate get_json_schema's OpenAPI-style `"nullable": true` into JSON Schema.

    get_json_schema writes `Optional[X]` as {"type": X, "nullable": true}; jsonschema
    ignores the unknown `nullable` keyword and would reject None for such arguments.
    """
    if isinstance(parameters, dict):
        converted = {key: _json_schema(value) for key, value in parameters.items()}
        # `is True`: inside "properties", a key "nullable" would be an argument name mapping to a dict.
        if converted.get("nullable") is True and "type" in converted:
            del converted["nullable"]
            types = converted["type"] if isinstance(converted["type"], list) else [converted["type"]]
            converted["type"] = [*types, "null"] if "null" not in types else types
        return converted
    if isinstance(parameters, list):
        return [_json_schema(item) for item in parameters]
    return parameters


def run_tool_call(
    tools: Sequence[Tool], name: str, arguments: object, *, max_chars: int = 4000
) -> ToolResult:
    """Run one tool call made by the model; never raises.

    The content of the result is truncated to `max_chars` characters (plus a
    marker) so that a huge web page or file cannot flood the context window,
    and its control strings are escaped (`neutralize_control_tokens`), whatever
    produced it: the tool's return value, its exception, or an error message
    that quotes the model's own call.
    """
    by_name = {t.name: t for t in tools}
    selected = by_name.get(name) if isinstance(name, str) else None
    if selected is None:
        available = ", ".join(by_name) or "none"
        return _result(name, f"error: unknown tool {name!r}; available tools: {available}", False, max_chars)
    problem = validate_arguments(selected.schema, arguments)
    if problem is not None:
        return _result(name, f"error: {problem}", False, max_chars)

    future: Future = Future()

    def work() -> None:
        # BaseException too: a tool calling sys.exit() must report an error, not kill the thread silently.
        try:
            future.set_result(selected.fn(**arguments))
        except BaseException as err:  # noqa: BLE001 - reported to the model below
            future.set_exception(err)

    # A daemon thread rather than a ThreadPoolExecutor: a Python thread cannot be killed, and
    # executor threads are joined at interpreter exit, so one hung tool would stop the program
    # from exiting. A daemon thread that times out is abandoned and dies with the process.
    threading.Thread(target=work, name=f"tool-{name}", daemon=True).start()
    try:
        error = future.exception(timeout=selected.timeout)
    except FutureTimeoutError:
        return _result(name, f"error: timed out after {selected.timeout:g}s", False, max_chars)
    if error is not None:
        return _result(name, f"error: {type(error).__name__}: {_describe(error)}", False, max_chars)

    value = future.result()
    if isinstance(value, str):
        return _result(name, value, True, max_chars)
    # Exception, not just TypeError/ValueError (circular references, non-string dict keys): `default=str` runs
    # the returned objects' own __str__, which may raise anything.
    try:
        content = json.dumps(value, ensure_ascii=False, default=str)
    except Exception as err:  # noqa: BLE001 - reported to the model
        problem = f"error: tool returned a value that is not JSON-encodable: {_describe(err)}"
        return _result(name, problem, False, max_chars)
    return _result(name, content, True, max_chars)


def _describe(error: BaseException) -> str:
    """str(error), which runs the exception's own __str__: a tool's exception may fail even at that."""
    try:
        return str(error)
    except Exception:  # noqa: BLE001 - the type name is still worth reporting
        return "(the error message could not be read)"


def _result(name: object, content: str, ok: bool, max_chars: int) -> ToolResult:
    # The name is the model's text too (an unknown tool's name is echoed back): escaped like the content.
    return ToolResult(
        name=neutralize_control_tokens(str(name)),
        content=neutralize_control_tokens(_truncate(content, max_chars)),
        ok=ok,
    )


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + TRUNCATION_MARKER


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def builtin_tools(names: Sequence[str], *, docs_dir: str | Path | None = None) -> list[Tool]:
    """The shipped tools, in the order given. `local_search` needs the folder to index."""
    if isinstance(names, str):
        raise TypeError("names must be a sequence of tool names, not a single string")
    unknown = [n for n in names if n not in BUILTIN_TOOL_NAMES]
    if unknown:
        raise ValueError(f"unknown tool {unknown[0]!r}; valid tools: {', '.join(BUILTIN_TOOL_NAMES)}")
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise ValueError(f"tool listed more than once: {', '.join(duplicates)}")
    tools = []
    for name in names:
        if name == "web_search":
            tools.append(tool(web_search, timeout=30.0))
        elif name == "calculator":
            tools.append(tool(calculator, timeout=5.0))
        elif name == "local_search":
            if docs_dir is None:
                raise ValueError("the local_search tool needs a documents folder: --docs DIR is required")
            # Imported here: local_search imports this package (for Tool), and bm25s is only needed then.
            from smolthink.tools.local_search import LocalSearch

            tools.append(LocalSearch(docs_dir).as_tool())
    return tools


def select_tools(
    names: Sequence[str] | None, *, loaded: Sequence[Tool] = (), docs_dir: str | Path | None = None
) -> list[Tool]:
    """The tools to offer, by name among the built-ins and `loaded` (the user's own, from tools files).

    `names` None is the default: every loaded tool, or the calculator when nothing was loaded. A loaded tool not
    named is not offered (so the model cannot call it). A `docs_dir` adds local_search when it is not named.
    """
    if isinstance(names, str):
        raise TypeError("names must be a sequence of tool names, not a single string")
    by_name = {t.name: t for t in loaded}
    if names is None:
        names = list(by_name) if loaded else ["calculator"]
    names = list(names)
    if docs_dir is not None and "local_search" not in names:
        names.append("local_search")
    unknown = [n for n in names if n not in BUILTIN_TOOL_NAMES and n not in by_name]
    if unknown:
        available = ", ".join([*BUILTIN_TOOL_NAMES, *by_name])
        hint = "" if loaded else " (your own functions: --tools-file FILE.py)"
        raise ValueError(f"unknown tool {unknown[0]!r}; available tools: {available}{hint}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool listed more than once: {', '.join(duplicates)}")
    builtins = iter(builtin_tools([n for n in names if n in BUILTIN_TOOL_NAMES], docs_dir=docs_dir))
    return [next(builtins) if n in BUILTIN_TOOL_NAMES else by_name[n] for n in names]
