"""Prompt sources: what the teacher is asked, and what its verifier needs to check the answer.

Each source yields `Prompt`s (or `Skipped` rows that never reach the teacher: an evaluation question, a bad line, a
search that could not be run):

- reasoning-gym: the question (with the final-answer instruction); the task's own `score_answer` checks the reply.
- synthetic-tools: the request and the tools on offer; the generator's first assistant turn is the right answer
  (a call, parallel calls, or no call at all for irrelevance and "no tool fits" items).
- search: a question, a `local_search` (or `web_search`) run here with the question as the query, the passages
  handed over as the tool result; the teacher writes the answer from them.
- local: a JSONL/parquet of questions (`question` or `messages`), optionally with a reference `answer` and `tools`.
- instructions: plain-chat requests with IFEval instructions (`data.sources.plain_chat.training_prompts`), no tools;
  meant for a `think: false` teacher (chat answers without reasoning).

BFCL is never a prompt source: it is the tool-calling evaluation, and a local file from bfcl-eval is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from smolthink.distill.recipe import DistillError, PromptSpec
from smolthink.formats import tool_call

SEARCH_INSTRUCTION = ("Answer the user's question from the search results only. If they do not hold the answer, "
                      "say that it was not found in the documents.")
EVAL_QUESTIONS_PER_TASK = 500  # eval questions per reasoning-gym task kept out of the prompts (eval uses far fewer)


@dataclass
class Prompt:
    id: str  # "<source name>/<row id>": unique in a run, stable across runs
    source: str
    kind: str  # the source type
    task: str  # what the summary groups by: the gym task, the tools kind, "search", "local"
    messages: list[dict[str, Any]]  # the prompt conversation, stored in the output with the teacher's turn after it
    tools: list[dict[str, Any]] = field(default_factory=list)
    instruction: str | None = None  # teacher-only: added to the teacher's system prompt, not stored
    check: dict[str, Any] = field(default_factory=dict)  # what the verifier of `kind` needs
    metadata: dict[str, Any] = field(default_factory=dict)  # carried into every output row


@dataclass
class Skipped:
    id: str
    source: str
    reason: str
    detail: str = ""


def prompts(spec: PromptSpec, *, limit: int | None = None) -> Iterator[Prompt | Skipped]:
    n = spec.n if limit is None else min(spec.n, limit) if spec.n is not None else limit
    if spec.type == "reasoning-gym":
        return _gym(spec, n)
    if spec.type == "synthetic-tools":
        return _tools(spec, n)
    if spec.type == "search":
        return _search(spec, n)
    if spec.type == "instructions":
        return _instructions(spec, n)
    return _local(spec, n)


# ------------------------------------------------------------------------------------------- reasoning-gym


def _gym(spec: PromptSpec, n: int) -> Iterator[Prompt | Skipped]:
    from smolthink.data.example import SourceError
    from smolthink.data.sources import gym

    try:
        examples = list(gym.generate(n, seed=spec.seed, name=spec.name, tasks=spec.tasks, configs=spec.configs))
    except SourceError as e:
        raise DistillError(f"prompts[{spec.name}]: {e}") from None
    for ex in examples:
        pid = f"{spec.name}/{ex.row_id}"
        question = ex.messages[0]["content"]
        if question in _eval_questions(ex.metadata["task"]):
            yield Skipped(pid, spec.name, "evaluation question", question[:200])
            continue
        meta = {k: ex.metadata[k] for k in ("task", "answer", "seed", "index")}
        yield Prompt(pid, spec.name, spec.type, ex.metadata["task"], ex.messages, instruction=spec.instruction,
                     check={"gym": ex.metadata}, metadata=meta)


@cache
def _eval_questions(task: str) -> frozenset[str]:
    """The questions `smolthink eval` may ask for a reasoning-gym task (its held-out seed, its config): a training
    seed can still draw the same question by chance in a small task ("Spell apple backward.")."""
    from smolthink.data.sources import gym
    from smolthink.eval.reasoning import EVAL_SEED

    examples = gym.generate(EVAL_QUESTIONS_PER_TASK, seed=EVAL_SEED, tasks=[task])
    return frozenset(ex.messages[0]["content"] for ex in examples)


# ------------------------------------------------------------------------------------------ synthetic-tools


def _tools(spec: PromptSpec, n: int) -> Iterator[Prompt | Skipped]:
    from smolthink.data.example import SourceError
    from smolthink.data.sources import synthetic_tools

    try:
        examples = list(synthetic_tools.generate(n, seed=spec.seed, name=spec.name, kinds=spec.kinds))
    except SourceError as e:
        raise DistillError(f"prompts[{spec.name}]: {e}") from None
    for ex in examples:
        first = next(i for i, m in enumerate(ex.messages) if m["role"] == "assistant")
        right = ex.messages[first]
        meta = {k: v for k, v in ex.metadata.items()}
        yield Prompt(f"{spec.name}/{ex.row_id}", spec.name, spec.type, ex.metadata["kind"], ex.messages[:first],
                     ex.tools, instruction=spec.instruction,
                     check={"calls": right.get("tool_calls") or []}, metadata=meta)


# ----------------------------------------------------------------------------------------------- instructions


def _instructions(spec: PromptSpec, n: int) -> Iterator[Prompt | Skipped]:
    from smolthink.data.sources import plain_chat
    from smolthink.eval.ifeval import eval_prompts

    held_out = eval_prompts()
    for row in plain_chat.training_prompts(n, seed=spec.seed):
        pid = f"{spec.name}/{row['id']}"
        if row["prompt"] in held_out:  # never by construction (disjoint topics); a guard like the gym one
            yield Skipped(pid, spec.name, "evaluation question", row["prompt"][:200])
            continue
        yield Prompt(pid, spec.name, spec.type, row["family"], [{"role": "user", "content": row["prompt"]}],
                     instruction=spec.instruction, check={"instructions": row["instructions"]},
                     metadata={"instructions": row["instructions"], "seed": spec.seed})


# ----------------------------------------------------------------------------------------------------- search


def _search(spec: PromptSpec, n: int | None) -> Iterator[Prompt | Skipped]:
    from smolthink.tools import run_tool_call

    rows = spec.questions if spec.questions is not None else [r for _, r in _read_rows(Path(spec.path), spec.name)]
    tool = _search_tool(spec)
    for i, row in enumerate(rows[:n] if n is not None else rows):
        pid = f"{spec.name}/{_row_id(row, i)}"
        if isinstance(row, Skipped):
            yield row
            continue
        question = row.get("question") if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip():
            yield Skipped(pid, spec.name, "no question", f"expected a 'question' string, got {str(row)[:200]}")
            continue
        facts = row.get("facts") or []
        answerable = row.get("answerable", True)
        if not isinstance(facts, list) or not all(isinstance(f, (str, int, float)) for f in facts) \
                or not isinstance(answerable, bool):
            yield Skipped(pid, spec.name, "malformed question", "facts: a list of strings; answerable: true/false")
            continue
        query = row.get("query") or question
        arg = "query" if tool.name == "local_search" else "search_str"
        result = run_tool_call([tool], tool.name, {arg: query})
        if not result.ok or result.content.startswith("search unavailable"):
            yield Skipped(pid, spec.name, "search failed", result.content[:200])
            continue
        messages = [{"role": "user", "content": question},
                    {"role": "assistant", "content": "", "tool_calls": [tool_call(tool.name, {arg: query})]},
                    {"role": "tool", "name": tool.name, "content": result.content}]
        yield Prompt(pid, spec.name, spec.type, "search", messages, [tool.schema],
                     instruction=spec.instruction or SEARCH_INSTRUCTION,
                     check={"passages": result.content, "question": question, "facts": [str(f) for f in facts],
                            "answerable": answerable},
                     metadata={"query": query, "facts": facts, "answerable": answerable})


def _search_tool(spec: PromptSpec) -> Any:
    from smolthink.tools import builtin_tools

    docs = spec.docs
    if spec.search == "local_search" and docs is None:
        from smolthink.chat.demo import demo_docs_dir

        docs = str(demo_docs_dir())
    try:
        return builtin_tools([spec.search], docs_dir=docs)[0]
    except (ValueError, FileNotFoundError) as e:
        raise DistillError(f"prompts[{spec.name}]: {e}") from None


# ------------------------------------------------------------------------------------------------------ local


def _local(spec: PromptSpec, n: int | None) -> Iterator[Prompt | Skipped]:
    from smolthink.data.sources.upstream import RowError, json_if_string, parse_tools

    path = Path(spec.path)
    if path.name.startswith("BFCL_") or "bfcl_eval" in path.resolve().parts:
        raise DistillError(f"prompts[{spec.name}]: {path} is BFCL data, the tool-calling evaluation; it is never a "
                           "prompt source")
    for count, (i, row) in enumerate(_read_rows(path, spec.name)):
        if n is not None and count >= n:
            return
        if isinstance(row, Skipped):
            yield row
            continue
        pid = f"{spec.name}/{_row_id(row, i)}"
        try:
            if isinstance(row.get("messages"), (list, str)):
                messages = json_if_string(row["messages"], "messages")
                bad = [m for m in messages if not isinstance(m, dict) or m.get("role") not in ("system", "user")
                       or not isinstance(m.get("content"), str)]
                if bad or not messages:
                    raise RowError("malformed messages", "a prompt is system/user messages with string content")
            elif isinstance(row.get("question"), str) and row["question"].strip():
                messages = [{"role": "user", "content": row["question"]}]
            else:
                raise RowError("no question", f"expected 'question' or 'messages'; the row has keys {sorted(row)}")
            tools = parse_tools(row["tools"]) if row.get("tools") else []
        except RowError as e:
            yield Skipped(pid, spec.name, e.reason, e.detail)
            continue
        answer = row.get("answer")
        yield Prompt(pid, spec.name, spec.type, "local", messages, tools, instruction=spec.instruction,
                     check={"answer": None if answer is None else str(answer), "mode": spec.check},
                     metadata={"answer": answer} if answer is not None else {})


def _row_id(row: Any, index: int) -> str:
    if isinstance(row, dict):
        for key in ("id", "row_id"):
            if isinstance(row.get(key), (str, int)):
                return str(row[key])
    return str(index)


def _read_rows(path: Path, name: str) -> Iterator[tuple[int, Any]]:
    """(index, row) per JSONL line or parquet row; a line that is not JSON comes back as a Skipped."""
    if not path.is_file():
        raise DistillError(f"prompts[{name}]: no such file: {path}")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as e:
            raise DistillError(f"prompts[{name}]: {path}: not a readable parquet file ({e})") from None
        yield from enumerate(table.to_pylist())
        return
    if path.suffix not in (".jsonl", ".json"):
        raise DistillError(f"prompts[{name}]: {path}: expected a .jsonl or .parquet file")
    index = 0
    for line_no, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            row = Skipped(f"{name}/{index}", name, "malformed JSON", f"{path.name}:{line_no}: {e}")
        if not isinstance(row, (dict, Skipped)):
            row = Skipped(f"{name}/{index}", name, "not a JSON object", f"{path.name}:{line_no}")
        yield index, row
        index += 1
