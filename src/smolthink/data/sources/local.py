"""Local files → `Example`s: JSONL, JSON (an array, one object, or JSONL under a .json name) and parquet.

A row is either OpenAI-style `messages` (+ optional `tools`), whose assistant turns may carry their reasoning in
`reasoning`/`reasoning_content`/`thinking` or inline in `<think>`, and whose tool calls may have JSON-string
arguments; or ShareGPT `conversations` of {from, value} (human/gpt/system/tool, plus LLaMA-Factory's
function_call/observation). JSONL is read line by line with plain `json`, so one bad line is quarantined as
`Rejected("malformed JSON", "<file>:<line>")` and reading goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smolthink.data.example import Example, Rejected, SourceError
from smolthink.data.sources.upstream import (
    ROLES,
    RowError,
    assistant_message,
    conversation,
    finish,
    json_if_string,
    parse_tools,
    turns_of,
)
from smolthink.formats import normalize_message

SUFFIXES = (".jsonl", ".json", ".parquet")

# ShareGPT as written by LLaMA-Factory adds function_call (an assistant tool call) and observation (its result).
SHAREGPT_ROLES = {**ROLES, "observation": "tool", "function_call": "function_call"}


def load_local(path: str | Path, *, name: str, limit: int | None = None) -> Iterator[Example | Rejected]:
    """Examples (or Rejected rows) from a file or from every .jsonl/.json/.parquet file of a directory, in order.

    The path is checked now; rows are read lazily. Row ids: the row's `id` (or `row_id`, as smolthink writes
    them) when present, else "<file name>:<line>" for JSONL (1-based) and "<file name>:<index>" otherwise (0-based).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{name}: no such file or directory: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))
        if not files:
            raise SourceError(f"{name}: no {', '.join(SUFFIXES)} files in the directory {path}")
    elif path.suffix in SUFFIXES:
        files = [path]
    else:
        expected = ", ".join(SUFFIXES)
        raise SourceError(f"{name}: {path}: unsupported file type {path.suffix!r}; expected one of {expected}")
    return _examples(files, name, limit)


def _examples(files: list[Path], name: str, limit: int | None) -> Iterator[Example | Rejected]:
    count = 0
    for file in files:
        for position, row in _rows(file, name):
            if limit is not None and count >= limit:
                return
            count += 1
            if isinstance(row, Rejected):
                yield row
            elif not isinstance(row, dict):
                yield Rejected(name, position, "not a JSON object", f"got {type(row).__name__}")
            else:
                yield adapt_local(row, name, _row_id(row, position))


def _row_id(row: dict[str, Any], position: str) -> str:
    for key in ("id", "row_id"):
        if row.get(key) is not None:
            return str(row[key])
    return position


def _rows(file: Path, name: str) -> Iterator[tuple[str, Any]]:
    """(position id, row) per record; a line that is not JSON comes back as a Rejected in place of the row."""
    if file.suffix == ".parquet":
        yield from _parquet_rows(file, name)
        return
    data = file.read_bytes()
    if file.suffix == ".json":
        try:
            value = json.loads(data)
        except ValueError:
            pass  # not one JSON document: read it as JSONL
        else:
            rows = value if isinstance(value, list) else [value]
            for index, row in enumerate(rows):
                yield f"{file.name}:{index}", row
            return
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        position = f"{file.name}:{line_no}"
        try:
            yield position, json.loads(line)
        except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
            yield position, Rejected(name, position, "malformed JSON", f"{e}: {line[:200].decode('utf-8', 'replace')}")


def _parquet_rows(file: Path, name: str) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"{name}: {file}: not a readable parquet file ({e})") from None
    index = 0
    batches = reader.iter_batches(batch_size=1024)
    while True:
        try:  # a corrupt page surfaces only when its batch is decoded
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"{name}: {file}: unreadable parquet data after row {index} ({e})") from None
        for row in batch.to_pylist():
            yield f"{file.name}:{index}", row
            index += 1


# ------------------------------------------------------------------------------------------------ row → example


def adapt_local(row: dict[str, Any], source: str, row_id: str) -> Example | Rejected:
    """One local row (OpenAI `messages` or ShareGPT `conversations`) → Example, or Rejected naming the problem."""
    try:
        if row.get("messages") is not None:
            messages, tools = _from_messages(row["messages"])
        elif row.get("conversations") is not None:
            messages, tools = _from_sharegpt(row["conversations"])
        else:
            raise RowError(
                "no conversation",
                "expected a 'messages' list (OpenAI form: role/content) or a 'conversations' list (ShareGPT: "
                f"from/value); the row has keys {sorted(row)}",
            )
        if row.get("tools") is not None:
            tools += parse_tools(_drop_nulls(json_if_string(row["tools"], "tools")))
    except RowError as e:
        return Rejected(source, row_id, e.reason, e.detail)
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    return finish(source, row_id, (messages, tools, metadata))


def _drop_nulls(value: Any) -> Any:
    """Parquet unifies struct fields across rows, filling the ones a row lacks with null: drop those."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _text(content: Any, where: str, *, role: str) -> str:
    """Message content as a string: OpenAI text parts are joined; tool results that are objects become JSON."""
    if isinstance(content, str):
        return content
    if content is None and role in ("assistant", "tool"):
        return ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text") or "") for p in content)
    if role == "tool" and isinstance(content, (dict, list, int, float, bool)):
        return json.dumps(content, ensure_ascii=False)
    raise RowError("malformed message", f"{where}.content: expected a string, got {type(content).__name__}")


def _from_messages(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    value = json_if_string(value, "messages")
    if not isinstance(value, list) or not value:
        raise RowError("empty 'messages'", f"expected a non-empty list of messages, got {type(value).__name__}")
    messages: list[dict[str, Any]] = []
    names_by_id: dict[str, str] = {}  # OpenAI tool results point at their call by id, not by name
    unanswered: list[str] = []
    for i, m in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise RowError("malformed message", f"{where}: expected an object, got {type(m).__name__}")
        role = ROLES.get(m.get("role")) if isinstance(m.get("role"), str) else None
        if role is None:
            raise RowError("unknown role", f"{where}.role: {m.get('role')!r} is not one of {', '.join(ROLES)}")
        content = _text(m.get("content"), where, role=role)
        if role == "assistant":
            msg = _assistant(m, content, where)
            for call in m.get("tool_calls") or []:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(call.get("id"), str) and isinstance(fn.get("name"), str):
                    names_by_id[call["id"]] = fn["name"]
            unanswered = [c["function"]["name"] for c in msg.get("tool_calls", [])]
            messages.append(msg)
        elif role == "tool":
            call_id = m.get("tool_call_id")
            name = m.get("name") or (names_by_id.get(call_id) if isinstance(call_id, str) else None)
            if name in unanswered:
                unanswered.remove(name)
            elif not name and unanswered:
                name = unanswered.pop(0)
            if not isinstance(name, str) or not name:
                raise RowError("tool response without a tool call", f"{where}: no name, tool_call_id or preceding call")
            messages.append({"role": "tool", "name": name, "content": content})
        else:
            messages.append({"role": role, "content": content})
    return messages, []


def _assistant(m: dict[str, Any], content: str, where: str) -> dict[str, Any]:
    """Structured fields first (reasoning aliases, tool_calls with JSON-string arguments), then inline tags."""
    try:
        fields = normalize_message({k: v for k, v in m.items() if v is not None})
    except ValueError as e:
        raise RowError("malformed tool call", f"{where}.{e}") from None
    reasoning = fields.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        raise RowError("malformed message", f"{where}.reasoning: expected a string, got {type(reasoning).__name__}")
    msg = assistant_message(content)
    if reasoning and reasoning.strip():
        if msg["reasoning"]:
            raise RowError("malformed assistant text", f"{where}: reasoning both in a field and in an inline <think>")
        msg["reasoning"] = reasoning.strip()
    calls = fields.get("tool_calls", []) + msg.get("tool_calls", [])
    if calls:
        msg["tool_calls"] = calls
    return msg


def _from_sharegpt(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    turns = turns_of(json_if_string(value, "conversations"), "conversations", SHAREGPT_ROLES)
    merged: list[tuple[str, str]] = []
    for role, text in turns:
        if role == "function_call":  # a JSON {"name", "arguments"} (or a list): the assistant's tool call
            call = f"<tool_call>\n{text.strip()}\n</tool_call>"
            if merged and merged[-1][0] == "assistant" and "<tool_call>" not in merged[-1][1]:
                merged[-1] = ("assistant", f"{merged[-1][1]}\n{call}")
            else:
                merged.append(("assistant", call))
        else:
            merged.append((role, text))
    return conversation(merged)
