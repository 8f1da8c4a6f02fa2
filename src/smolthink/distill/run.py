"""`smolthink distill`: a recipe → teacher answers → verified conversations, appended line by line, resumable.

    distilled.jsonl   one kept conversation per line: id ("<prompt id>#<sample>"), prompt_id, sample, source, task,
                      messages (the prompt, then the teacher's turn: reasoning in `reasoning`, structured tool calls),
                      tools, metadata (teacher, verdict, score, tokens, latency, the source's own fields)
    rejected.jsonl    every other sample: the same keys, the reply, and the reason
    recipe.json       the resolved recipe this folder belongs to (a rerun with a different one is refused)
    summary.json      pass rate per source and task, tokens, this run's prompts/minute (rewritten at the end)

A line is written with one write() and fsync'd before the next, so a run killed at any moment leaves whole lines:
it loses its in-flight requests and nothing else. A rerun reads what is done, keyed by (prompt id, sample index),
drops a trailing partial line if an older crash left one (and counts it), and asks only for the rest. Samples of
one prompt are decided together (keep: first / all / best), then written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smolthink.config import to_dict
from smolthink.data.example import Example, Rejected, SourceError
from smolthink.distill.prompts import Prompt, Skipped, prompts
from smolthink.distill.recipe import DistillError, DistillRecipe, first_difference, identity
from smolthink.distill.teacher import HTTPTeacher, LocalTeacher, Reply, RequestFailed, with_system
from smolthink.distill.verify import Verdict, check_reply, content_key, failed, select, verify
from smolthink.atomic import write_atomic

KEPT, REJECTED, RECIPE, SUMMARY = "distilled.jsonl", "rejected.jsonl", "recipe.json", "summary.json"
OUTPUTS = (KEPT, REJECTED, RECIPE, SUMMARY, ".lock")


def distill(recipe: DistillRecipe, out: str | Path, *, limit: int | None = None, overwrite: bool = False,
            console: Any = None) -> dict[str, Any]:
    """Run the recipe into `out` (resuming what is there); returns the summary (also in summary.json)."""
    out = Path(out)
    lock = _claim(out, recipe, overwrite)
    try:
        output = Output(out)
        run = Run(recipe, output, limit=limit, console=console)
        try:
            asyncio.run(run.main())
        finally:
            summary = summarize(out, run.stats())
            write_atomic(out / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return summary
    finally:
        os.close(lock)


# ------------------------------------------------------------------------------------------- output folder


def _claim(out: Path, recipe: DistillRecipe, overwrite: bool) -> int:
    """Check that `out` is empty or this recipe's, lock it against a second run, and write recipe.json."""
    if out.exists() and not out.is_dir():
        raise DistillError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    # Hidden names: write_atomic's temporaries, which a killed run may leave.
    strangers = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS and not p.name.startswith("."))
    if strangers:
        raise DistillError(f"--out {out} holds files that are not a distill run's ({', '.join(strangers[:3])}); "
                           "choose an empty or new folder")
    lock = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise DistillError(f"another distill run is writing to {out}; wait for it or choose another --out") from None
    wanted = identity(recipe)
    saved = out / RECIPE
    if saved.exists() and not overwrite:
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))["identity"]
        except (ValueError, KeyError, TypeError):
            old = None
        change = first_difference(old, wanted) if isinstance(old, dict) else "recipe.json: unreadable"
        if change:
            os.close(lock)
            raise DistillError(f"--out {out} was written by a different recipe ({change}); rerun with --overwrite to "
                               "start over there, or choose another --out")
    if overwrite:
        for name in (KEPT, REJECTED, SUMMARY):
            (out / name).unlink(missing_ok=True)
    record = {"identity": wanted, "recipe": to_dict(recipe)}
    write_atomic(saved, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return lock


def _read_lines(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    """(rows, partial lines dropped, unreadable lines) of a JSONL output; a trailing partial line is cut off."""
    if not path.exists():
        return [], 0, 0
    data = path.read_bytes()
    dropped = 0
    if data and not data.endswith(b"\n"):  # a write cut short by a crash (never by this code's own kill-safety)
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
        data, dropped = data[:cut], 1
    rows, bad = [], 0
    for line in data.splitlines():
        try:
            row = json.loads(line)
            key = (row["prompt_id"], row["sample"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if isinstance(key[0], str) and isinstance(key[1], int):
            rows.append(row)
        else:
            bad += 1
    return rows, dropped, bad


class Output:
    """The two JSONL files: what is done, and appending one whole line at a time."""

    def __init__(self, folder: Path):
        self.folder = folder
        kept, dropped_k, bad_k = _read_lines(folder / KEPT)
        rejected, dropped_r, bad_r = _read_lines(folder / REJECTED)
        self.dropped_partial, self.unreadable = dropped_k + dropped_r, bad_k + bad_r
        self.done = {(r["prompt_id"], r["sample"]) for r in kept + rejected}
        self.resumed = len(self.done)
        self.kept_keys: dict[str, list[str]] = defaultdict(list)  # content keys of kept samples, per prompt
        for r in kept:
            if r.get("messages"):
                self.kept_keys[r["prompt_id"]].append(content_key(r["messages"][-1]))
        self._fds = {name: os.open(folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                     for name in (KEPT, REJECTED)}

    def append(self, name: str, row: dict[str, Any]) -> None:
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        fd = self._fds[name]
        while data:  # a regular file takes the whole line in one write(); the loop covers the rare short write
            data = data[os.write(fd, data):]
        os.fsync(fd)
        self.done.add((row["prompt_id"], row["sample"]))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)


# ------------------------------------------------------------------------------------------------------- run


def sample_seed(prompt_id: str, sample: int) -> int:
    """The sampling seed of one sample: k samples of a prompt differ, and a rerun asks for the same ones."""
    return int(hashlib.sha256(f"{prompt_id}#{sample}".encode()).hexdigest()[:8], 16)


class Run:
    def __init__(self, recipe: DistillRecipe, output: Output, *, limit: int | None, console: Any):
        self.recipe, self.output, self.limit, self.console = recipe, output, limit, console
        self.skipped: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()  # prompts, samples, kept, failed, tokens in this run
        self.planned = 0
        self.wanted: set[tuple[str, int]] = set()  # (prompt id, sample) of every planned sample
        self.started = time.perf_counter()  # reset when the teacher phase starts: rates are the teacher's
        self.teacher_label = ""
        self.clients: list[Any] = []  # the teacher (and judge): they count their failed requests

    def stats(self) -> dict[str, Any]:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        c = self.counts
        return {"teacher": self.teacher_label, "seconds": round(seconds, 2), "planned_prompts": self.planned,
                "prompts_done": c["prompts"], "samples_done": c["samples"], "kept": c["kept"],
                "failed_requests": sum(t.failed for t in self.clients),
                "prompts_per_minute": round(c["prompts"] / seconds * 60, 2),
                "completion_tokens_per_s": round(c["completion_tokens"] / seconds, 2),
                "remaining_samples": len(self.wanted - self.output.done) if self.planned else None,
                "resumed_samples": self.output.resumed, "dropped_partial_lines": self.output.dropped_partial,
                "unreadable_lines": self.output.unreadable, "skipped_prompts": dict(self.skipped)}

    async def main(self) -> None:
        spec = self.recipe.teacher
        judge = None
        if spec.url:
            teacher = HTTPTeacher.from_spec(spec, who="teacher", concurrency=self.recipe.concurrency)
        else:
            teacher = LocalTeacher(spec, progress=self._say)
        self.clients.append(teacher)
        try:
            if self.recipe.keep.judge is not None:
                judge = HTTPTeacher.from_spec(self.recipe.keep.judge, who="keep.judge",
                                              concurrency=self.recipe.concurrency)
                self.clients.append(judge)
                await judge.check_reachable()
            if isinstance(teacher, HTTPTeacher):
                await teacher.check_reachable()
            self.teacher_label = teacher.label
            todo = self._plan()
            self.started = time.perf_counter()
            await self._work(teacher, judge, todo)
        finally:
            self.output.close()
            await teacher.close()
            if judge is not None:
                await judge.close()

    def _say(self, message: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim]{message}[/]")

    def _plan(self) -> list[tuple[Prompt, list[int]]]:
        """Every prompt with the sample indices still to do; prompt ids must be unique."""
        k = self.recipe.teacher.samples
        todo, seen = [], set()
        for spec in self.recipe.prompts:
            for item in prompts(spec, limit=self.limit):
                if isinstance(item, Skipped):
                    self.skipped[item.reason] += 1
                    continue
                if item.id in seen:
                    raise DistillError(f"prompts[{spec.name}]: the prompt id {item.id!r} comes twice; give each row "
                                       "a unique 'id' (or none: the line number is used)")
                seen.add(item.id)
                self.planned += 1
                self.wanted.update((item.id, i) for i in range(k))
                missing = [i for i in range(k) if (item.id, i) not in self.output.done]
                if missing:
                    todo.append((item, missing))
        return todo

    async def _work(self, teacher: Any, judge: HTTPTeacher | None, todo: list[tuple[Prompt, list[int]]]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("kept {task.fields[kept]}"), TextColumn("{task.fields[rate]}"), TextColumn("ETA"),
                   TimeRemainingColumn()]
        with Progress(*columns, console=self.console, disable=self.console is None) as bar:
            task = bar.add_task(f"distill {self.recipe.name}", total=self.planned,
                                completed=self.planned - len(todo), kept="-", rate="")
            pending = iter(todo)

            async def worker() -> None:
                for prompt, missing in pending:  # one shared iterator: each prompt goes to one worker
                    await self._prompt(teacher, judge, prompt, missing)
                    c, seconds = self.counts, time.perf_counter() - self.started
                    bar.update(task, advance=1, kept=f"{c['kept'] / max(c['samples'], 1):.0%}",
                               rate=f"{c['prompts'] / seconds * 60:,.1f} prompts/min, "
                                    f"{c['completion_tokens'] / seconds:,.0f} tok/s")

            # A worker sends a prompt's k requests at once: enough workers to fill every slot, plus one waiting.
            workers = min(len(todo), -(-self.recipe.concurrency // self.recipe.teacher.samples) + 1)
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(workers):
                        group.create_task(worker())
            except BaseExceptionGroup as group_error:  # the first DistillError (the circuit) is the one to show
                first = next((e for e in _leaves(group_error) if isinstance(e, DistillError)), None)
                raise first or group_error from None

    async def _prompt(self, teacher: Any, judge: HTTPTeacher | None, prompt: Prompt, missing: list[int]) -> None:
        spec, keep = self.recipe.teacher, self.recipe.keep
        messages = with_system(prompt.messages, spec.system, prompt.instruction)
        options = dict(max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p, think=spec.think)
        seeds = [sample_seed(prompt.id, i) for i in missing]
        results = await _sample(teacher, messages, prompt.tools, seeds, options)
        self.counts["prompts"] += 1
        judged: list[tuple[int, Reply, Verdict]] = []
        for index, result in zip(missing, results):
            if isinstance(result, RequestFailed) and not result.refused:
                continue  # not written: a rerun asks again
            if isinstance(result, RequestFailed):
                reply, verdict = Reply({"role": "assistant", "content": "", "reasoning": None}), \
                    failed("request refused", str(result))
            else:
                reply = result
                if not spec.think:  # no-think data: reasoning a teacher wrote anyway is not part of it
                    reply.message["reasoning"] = None
                verdict = (failed("malformed reply", "; ".join(reply.problems)) if reply.problems else
                           check_reply(prompt, reply.message, think=spec.think, budget=keep.reasoning_words,
                                       require_reasoning=keep.require_reasoning, max_turns=keep.max_turns,
                                       finish_reason=reply.finish_reason)
                           or verify(prompt, reply.message))
                if verdict.ok and judge is not None:
                    try:
                        graded = await _grade(judge, keep.judge, prompt, reply.message)
                        verdict = dataclasses.replace(graded, detail=f"{verdict.detail}; {graded.detail}")
                    except RequestFailed:
                        continue  # not written: a rerun asks again
            judged.append((index, reply, verdict))
        verified = [(i, r.message, v) for i, r, v in judged if v.ok]
        decisions = select(keep.select, verified, self.output.kept_keys.get(prompt.id, []))
        for index, reply, verdict in judged:
            self._write(prompt, index, reply, verdict, decisions.get(index))

    def _write(self, prompt: Prompt, index: int, reply: Reply, verdict: Verdict, decision: str | None) -> None:
        self.counts["samples"] += 1
        self.counts["completion_tokens"] += reply.completion_tokens or 0
        meta = {**prompt.metadata, "task": prompt.task, "teacher": self.teacher_label, "verdict": verdict.reason,
                "passed": verdict.ok, "check": verdict.detail, "score": verdict.score,
                "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                "latency_s": round(reply.latency_s, 3), "finish_reason": reply.finish_reason}
        row = {"id": f"{prompt.id}#{index}", "prompt_id": prompt.id, "sample": index, "source": prompt.source,
               "task": prompt.task}
        if decision == "kept":
            self.counts["kept"] += 1
            self.output.kept_keys[prompt.id].append(content_key(reply.message))
            self.output.append(KEPT, {**row, "messages": [*prompt.messages, reply.message], "tools": prompt.tools,
                                      "metadata": meta})
        else:
            reason, detail = (decision, verdict.detail) if decision else (verdict.reason, verdict.detail)
            self.output.append(REJECTED, {**row, "reason": reason, "detail": detail, "reply": reply.message,
                                          "metadata": meta})


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


async def _sample(teacher: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seeds: list[int],
                  options: dict[str, Any]) -> list[Reply | RequestFailed]:
    """k samples of one prompt: k concurrent requests to a server, or one in-process batch."""
    if isinstance(teacher, LocalTeacher):
        return await teacher.sample(messages, tools, seeds, **options)

    async def one(seed: int) -> Reply | RequestFailed:
        try:
            return await teacher.chat(messages, tools, seed=seed, **options)
        except RequestFailed as e:
            return e

    return list(await asyncio.gather(*(one(seed) for seed in seeds)))


JUDGE_SYSTEM = ("You grade an assistant's reply against a rubric. Read the conversation and the rubric, then reply "
                "with one integer from 0 (fails the rubric) to 10 (fully meets it), and nothing else.")


async def _grade(judge: HTTPTeacher, spec: Any, prompt: Prompt, message: dict[str, Any]) -> Verdict:
    import re

    shown = "\n\n".join(f"[{m['role']}] {m.get('content') or ''}" for m in prompt.messages)
    calls = json.dumps([c["function"] for c in message.get("tool_calls") or []], ensure_ascii=False)
    text = (f"Rubric:\n{spec.rubric}\n\nConversation:\n{shown}\n\n[assistant reply]\n{message.get('content') or ''}"
            + (f"\n[tool calls] {calls}" if message.get("tool_calls") else "") + "\n\nGrade (0-10):")
    reply = await judge.chat([{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}], [],
                             seed=0, max_tokens=spec.max_tokens, temperature=0.0, top_p=1.0, think=False)
    grades = [int(g) for g in re.findall(r"\b(10|[0-9])\b", reply.message.get("content") or "")]
    if not grades:
        return failed("judge gave no grade", (reply.message.get("content") or "")[:200])
    grade = grades[-1]
    if grade < spec.threshold:
        return failed("judge below threshold", f"grade {grade} < {spec.threshold:g}", grade / 10)
    return Verdict(True, "verified", f"judge grade {grade}", grade / 10)


# --------------------------------------------------------------------------------------------------- summary


def summarize(folder: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Counts per source and task over the whole folder (every run on it), plus this run's rates.

    `passed` counts the samples the checks and verifier accepted (kept, or verified but not selected), so
    `pass_rate` is the teacher's, whatever `keep.select` is; `rejected` counts the reasons of the others.
    """
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    for name in (KEPT, REJECTED):
        for row in _read_lines(folder / name)[0]:
            meta = row.get("metadata") or {}
            t = tasks.setdefault((str(row.get("source")), str(row.get("task"))), {
                "prompts": set(), "samples": 0, "passed": 0, "kept": 0, "prompt_tokens": 0, "completion_tokens": 0,
                "rejected": Counter()})
            t["prompts"].add(row["prompt_id"])
            t["samples"] += 1
            t["passed"] += bool(meta.get("passed"))
            t["kept"] += name == KEPT
            t["prompt_tokens"] += meta.get("prompt_tokens") or 0
            t["completion_tokens"] += meta.get("completion_tokens") or 0
            if not meta.get("passed"):
                t["rejected"][row.get("reason", "?")] += 1
    sources: dict[str, Any] = {}
    totals: Counter[str] = Counter()
    for (source, task), t in sorted(tasks.items()):
        t.update(prompts=len(t["prompts"]), rejected=dict(t["rejected"]),
                 pass_rate=round(t["passed"] / t["samples"], 4))
        entry = sources.setdefault(source, {"prompts": 0, "samples": 0, "passed": 0, "kept": 0, "tasks": {}})
        entry["tasks"][task] = t
        for key in ("prompts", "samples", "passed", "kept", "prompt_tokens", "completion_tokens"):
            entry[key] = entry.get(key, 0) + t[key]
            totals[key] += t[key]
        entry["pass_rate"] = round(entry["passed"] / entry["samples"], 4)
    return {"sources": sources, "totals": dict(totals), "run": run, "complete": run["remaining_samples"] == 0}


def summary_table(summary: dict[str, Any]) -> Any:
    """The printed table: one row per source and task."""
    from rich.table import Table

    table = Table(title=f"distill: {summary['run'].get('teacher') or 'teacher'}")
    for col in ("source", "task", "prompts", "samples", "passed", "kept", "top rejection", "tokens out"):
        table.add_column(col, justify="left" if col in ("source", "task", "top rejection") else "right")
    for source, entry in summary["sources"].items():
        for task, t in entry["tasks"].items():
            top = max(t["rejected"].items(), key=lambda kv: kv[1], default=None)
            table.add_row(source, task, f"{t['prompts']:,}", f"{t['samples']:,}", f"{t['pass_rate']:.0%}",
                          f"{t['kept']:,}", f"{top[0]} ({top[1]})" if top else "", f"{t['completion_tokens']:,}")
    run = summary["run"]
    failed = f"; {run['failed_requests']} requests failed: rerun to retry them" if run["failed_requests"] else ""
    table.caption = (f"this run: {run['prompts_done']:,} prompts in {run['seconds']:,.0f} s "
                     f"({run['prompts_per_minute']:,.1f} prompts/min, {run['completion_tokens_per_s']:,.0f} tok/s)"
                     f"{failed}")
    return table


# ------------------------------------------------------------------------------------------ data build source


def load_distilled(folder: str | Path, name: str, limit: int | None = None) -> Iterator[Example | Rejected]:
    """The kept conversations of a distill output folder as `data build` examples (`type: distilled`).

    Row ids are "<prompt id>#<sample>"; metadata keeps the teacher, verdict, tokens and the distill source's name
    (`distill_source`). A line that does not read back (an older crash) comes back as Rejected, never raises.
    """
    folder = Path(folder)
    path = folder / KEPT
    if not path.is_file():
        raise SourceError(f"{name}: {folder} is not a distill output folder (no {KEPT}); run smolthink distill first")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return _distilled_rows(path, name, limit)


def _distilled_rows(path: Path, name: str, limit: int | None) -> Iterator[Example | Rejected]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    partial = lines.pop()  # b"" when the file ends with a newline
    count = 0
    for line_no, line in enumerate(lines, 1):
        if limit is not None and count >= limit:
            return
        if not line.strip():
            continue
        count += 1
        where = f"{KEPT}:{line_no}"
        try:
            row = json.loads(line)
            metadata = {**(row.get("metadata") or {}), "distill_source": row["source"], "prompt_id": row["prompt_id"],
                        "sample": row["sample"]}
            example = Example(source=name, row_id=str(row["id"]), messages=row["messages"],
                              tools=row.get("tools") or [], metadata=metadata)
        except ValueError as e:
            yield Rejected(name, where, "malformed JSON", str(e))
            continue
        except (KeyError, TypeError) as e:
            yield Rejected(name, where, "malformed distilled row", f"missing or wrong key: {e}")
            continue
        yield example
    if partial.strip() and (limit is None or count < limit):
        yield Rejected(name, f"{KEPT}:{len(lines) + 1}", "partial line", partial[:200].decode("utf-8", "replace"))
