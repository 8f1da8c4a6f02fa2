"""Your own tools: every public, typed, documented function in a Python file becomes a `Tool`.

`load_tools_files` imports each file (so its code runs, exactly as `python FILE` would run it: a tools file is
the user's own program, not data) under a module name of its own, and turns every public function defined in it
into a tool with `smolthink.tools.tool`: the same schema derivation (`get_json_schema`), argument validation,
timeout and escaping of the result as the built-ins get, because `run_tool_call` runs them all.

"Public" means: a plain function defined in that file (not imported into it, judged by `fn.__module__`) whose
name does not start with `_`. Everything that can go wrong is a `ToolsFileError` naming the file (and the
function and line), never a traceback: a file that fails to import, a function without type hints or docstring,
a file with no public function, one name defined twice or taken by a built-in tool.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from transformers.utils.chat_template_utils import DocstringParsingException, TypeHintParsingException

from smolthink.errors import UserError
from smolthink.tools import BUILTIN_TOOL_NAMES, Tool, tool

TOOL_TIMEOUT_S = 30.0  # as web_search's: a user's function may well do I/O
_module_ids = itertools.count()


class ToolsFileError(UserError, ValueError):
    """A --tools-file that cannot be used as given; the message names the file and what to change."""


def load_tools_files(paths: Sequence[str | Path]) -> list[Tool]:
    """The tools of every file, in file order then definition order; names must be unique across files."""
    seen_files: dict[Path, Path] = {}
    defined_in: dict[str, str] = {}  # tool name -> "file:line"
    tools: list[Tool] = []
    for given in paths:
        path = Path(given)
        resolved = path.resolve()
        if resolved in seen_files:
            raise ToolsFileError(f"--tools-file {path} is given twice (also as {seen_files[resolved]})")
        seen_files[resolved] = path
        for t in load_tools_file(path):
            where = _where(path, t.fn)
            if t.name in defined_in:
                raise ToolsFileError(f"two tools are named {t.name!r}: {defined_in[t.name]} and {where}; rename one")
            defined_in[t.name] = where
            tools.append(t)
    return tools


def load_tools_file(path: str | Path) -> list[Tool]:
    """Import one tools file and build a Tool from each public function in it (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ToolsFileError(f"--tools-file {path}: no such file")
    if not path.is_file():
        raise ToolsFileError(f"--tools-file {path} is not a file")
    if path.suffix != ".py":
        raise ToolsFileError(f"--tools-file {path} is not a Python file (.py)")
    module = _import(path)
    functions = public_functions(module)
    if not functions:
        raise ToolsFileError(
            f"{path} defines no public function: a tool is a function defined in the file (not imported into it) "
            "whose name does not start with '_'"
        )
    tools = []
    for fn in functions:
        where = _where(path, fn)
        if fn.__name__ in BUILTIN_TOOL_NAMES:
            raise ToolsFileError(
                f"{where}: {fn.__name__!r} is also the name of smolthink's built-in tool {fn.__name__!r}; rename the "
                "function (or prefix it with '_' if it is not a tool)"
            )
        _check_signature(fn, where)
        try:
            tools.append(tool(fn, timeout=TOOL_TIMEOUT_S))
        except (TypeHintParsingException, DocstringParsingException) as e:
            raise ToolsFileError(f"{where}: {fn.__name__}: {_first_line(e)}{_DOC_HINT}") from None
    return tools


def public_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """The plain functions defined in `module` (not imported into it) whose names do not start with '_'."""
    found: list[Callable[..., Any]] = []
    for name, value in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
            continue
        if value.__name__.startswith("_") or any(value is f for f in found):  # an alias of another function
            continue
        found.append(value)
    return found


_DOC_HINT = (
    " (a tool needs a type hint on every argument and a Google-style docstring: a description, then an 'Args:' "
    "section with one 'name: description' line per argument)"
)


def _check_signature(fn: Callable[..., Any], where: str) -> None:
    """What get_json_schema would get wrong or report without naming the file: say it here, with the names."""
    if not inspect.getdoc(fn):
        raise ToolsFileError(f"{where}: {fn.__name__} has no docstring{_DOC_HINT}")
    parameters = inspect.signature(fn).parameters.values()
    variadic = [p.name for p in parameters if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)]
    if variadic:
        raise ToolsFileError(
            f"{where}: {fn.__name__} takes *args, **kwargs or positional-only arguments ({', '.join(variadic)}); "
            "the model calls a tool with named arguments only"
        )
    untyped = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    if untyped:
        raise ToolsFileError(f"{where}: {fn.__name__} has no type hint for {', '.join(untyped)}{_DOC_HINT}")


def _import(path: Path) -> ModuleType:
    # A unique name per load: two files called tools.py must not replace each other in sys.modules (which must
    # hold the module while it runs, for dataclasses and `typing.get_type_hints` on its functions).
    name = f"smolthink_tools_file_{next(_module_ids)}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolsFileError(f"--tools-file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's code: any failure is reported, KeyboardInterrupt still stops
        del sys.modules[name]
        where = f"{path}{_line_in(path, e)}"
        raise ToolsFileError(f"{where}: importing it failed: {type(e).__name__}: {_first_line(e)}") from None
    return module


def _line_in(path: Path, error: BaseException) -> str:
    """':LINE' of the deepest frame of the traceback that is in the tools file itself ('' when there is none)."""
    if isinstance(error, SyntaxError):
        return ""  # its message already says "(file.py, line N)"
    target = str(path.resolve())
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) == target]
    return f":{lines[-1]}" if lines else ""


def _where(path: Path, fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    return f"{path}:{code.co_firstlineno}" if code is not None else str(path)


def _first_line(error: BaseException) -> str:
    try:
        text = str(error).strip()
    except Exception:  # noqa: BLE001 - the user's exception may fail even at __str__
        text = ""
    return text.splitlines()[0] if text else "(no message)"
