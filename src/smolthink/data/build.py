"""`smolthink data build`: a data recipe → training-ready datasets, reproducibly, every rejected row accounted for.

Pipeline: read each source (adapters normalize into the conversation schema) → filters → duplicate removal across
sources → mixture (counts / weights, seeded) → train/validation split → tokenize with the chat template
(input_ids + assistant mask) → rolling windows per phase → write.

Output directory (written under a temporary name and renamed into place at the end, so a killed build never
leaves a directory that looks complete):

    conversations/            DatasetDict(train, validation): source, row_id, messages, tools, metadata (JSON text)
    <phase>/                  DatasetDict(train, validation): input_ids, assistant_masks, source, row_id
    quarantine.jsonl          every rejected row: source, row_id, reason, detail
    manifest.json             resolved recipe, per-source counts, token statistics, content hashes, versions
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smolthink.config import ConfigError, to_dict
from smolthink.data.example import Example, Rejected, SourceError
from smolthink.data.filters import Deduplicator, check
from smolthink.data.recipe import DataRecipe, SourceSpec
from smolthink.data.windows import rolling_windows, tokenize_conversations
from smolthink.errors import UserError


class BuildError(UserError):
    """The build cannot start or finish; the message says why and what to do."""


def iter_source(spec: SourceSpec) -> Iterator[Example | Rejected]:
    """The examples of one source, normalized into the conversation schema (bad rows come back as Rejected)."""
    if spec.type == "hf":
        from smolthink.data.sources.upstream import load_upstream

        return load_upstream(
            spec.hf_id, name=spec.name, config=spec.config, split=spec.split, streaming=spec.streaming,
            limit=spec.n, data_files=spec.data_files,
        )
    if spec.type == "local":
        from smolthink.data.sources.local import load_local

        return load_local(spec.path, name=spec.name, limit=spec.n)
    if spec.type == "synthetic-reasoning":
        from smolthink.data.sources import synthetic_reasoning

        return synthetic_reasoning.generate(spec.n, seed=spec.seed, name=spec.name, tasks=spec.tasks)
    if spec.type == "synthetic-tools":
        from smolthink.data.sources import synthetic_tools

        return synthetic_tools.generate(spec.n, seed=spec.seed, name=spec.name, kinds=spec.kinds)
    if spec.type == "reasoning-gym":
        from smolthink.data.sources import gym

        return gym.generate(spec.n, seed=spec.seed, name=spec.name, tasks=spec.tasks, solutions=spec.solutions)
    raise ConfigError(f"unknown source type {spec.type!r}")


def load_tokenizer(ref: str) -> Any:
    from transformers import AutoTokenizer

    from smolthink.models import resolve_model

    source, gguf_file = resolve_model(ref).hf_source()
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    return AutoTokenizer.from_pretrained(source, **kwargs)


def _select(kept: dict[str, list[Example]], recipe: DataRecipe) -> dict[str, list[Example]]:
    """Apply counts and weights; each source is shuffled with its own seeded RNG first, so the choice is stable."""
    weights = {s.name: s.weight for s in recipe.sources if s.weight is not None}
    total_weight = sum(weights.values())
    chosen = {}
    for spec in recipe.sources:
        pool = list(kept[spec.name])
        random.Random(f"{recipe.seed}:{spec.name}").shuffle(pool)
        if spec.count is not None:
            target = spec.count
        elif spec.weight is not None:
            target = round(recipe.size * spec.weight / total_weight)
        else:
            target = len(pool)
        chosen[spec.name] = pool[:target]
    return chosen


def _thinking_modes(recipe: DataRecipe, split: str, n: int) -> list[bool]:
    """Per example: render with thinking (True) or in no-think mode; a seeded `no_think_fraction` of them in no-think."""
    if not recipe.enable_thinking:
        return [False] * n
    rng = random.Random(f"{recipe.seed}:no_think:{split}")
    return [rng.random() >= recipe.no_think_fraction for _ in range(n)]


def _hash_rows(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def build(recipe: DataRecipe, out: str | Path, *, overwrite: bool = False, console: Any = None) -> dict[str, Any]:
    """Run the recipe and write the output directory; returns the manifest."""
    from datasets import Dataset, DatasetDict
    from datasets.utils.logging import disable_progress_bar
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    disable_progress_bar()  # datasets' per-save bars would drown the build's own progress and tables
    out = Path(out)
    if out.exists() and not overwrite:
        raise BuildError(f"{out} already exists: choose another --out or pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    started = time.perf_counter()
    try:
        tokenizer = load_tokenizer(recipe.tokenizer)
        dedup = Deduplicator(exact=recipe.dedup.exact, near=recipe.dedup.near, threshold=recipe.dedup.threshold, num_perm=recipe.dedup.num_perm)
        stats: dict[str, dict[str, Any]] = {}
        kept: dict[str, list[Example]] = {}
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
        with open(tmp / "quarantine.jsonl", "w", encoding="utf-8") as quarantine, Progress(*columns, console=console) as progress:
            for spec in recipe.sources:
                budget = spec.reasoning_words or recipe.reasoning_words
                task = progress.add_task(f"{spec.name}", total=spec.n, rate="")
                reasons: Counter[str] = Counter()
                read = 0
                kept[spec.name] = []
                t0 = time.perf_counter()
                try:
                    for item in iter_source(spec):
                        read += 1
                        if isinstance(item, Example):
                            item = check(item, budget=budget, max_turns=recipe.max_turns) or dedup.check(item) or item
                        if isinstance(item, Rejected):
                            reasons[item.reason] += 1
                            quarantine.write(json.dumps(item.to_row(), ensure_ascii=False) + "\n")
                        else:
                            kept[spec.name].append(item)
                        if read % 256 == 0:
                            progress.update(task, completed=read, rate=f"{read / (time.perf_counter() - t0):,.0f} rows/s")
                except SourceError as e:
                    raise BuildError(f"source {spec.name!r}: {e}") from None
                progress.update(task, completed=read, total=read, rate=f"{read / max(time.perf_counter() - t0, 1e-9):,.0f} rows/s")
                stats[spec.name] = {"type": spec.type, "read": read, "rejected": dict(reasons), "kept": len(kept[spec.name])}

        chosen = _select(kept, recipe)
        for name, examples in chosen.items():
            stats[name]["selected"] = len(examples)
            if len(examples) < (next(s for s in recipe.sources if s.name == name).count or 0):
                stats[name]["short"] = True
        mixture = [ex for examples in chosen.values() for ex in examples]
        random.Random(recipe.seed).shuffle(mixture)
        if not mixture:
            raise BuildError("no examples survived the filters: see quarantine.jsonl and the table above")
        n_val = round(len(mixture) * recipe.validation)
        if recipe.validation > 0 and n_val == 0 and len(mixture) > 1:
            n_val = 1
        splits = {"train": mixture[n_val:], "validation": mixture[:n_val]}

        rows = {
            split: [
                {
                    "source": ex.source,
                    "row_id": ex.row_id,
                    # JSON text: tool arguments differ in shape between rows, which Arrow columns cannot hold
                    "messages": json.dumps(ex.messages, ensure_ascii=False),
                    "tools": json.dumps(ex.tools, ensure_ascii=False),
                    "metadata": json.dumps(ex.metadata, ensure_ascii=False, default=str),
                }
                for ex in examples
            ]
            for split, examples in splits.items()
        }
        DatasetDict({s: Dataset.from_list(r) if r else _empty_conversations() for s, r in rows.items()}).save_to_disk(tmp / "conversations")

        tokenized = {
            split: [
                (ex, ids, mask)
                for ex, (ids, mask) in zip(
                    examples,
                    tokenize_conversations(tokenizer, ((ex.messages, ex.tools, thinking) for ex, thinking in
                                                       zip(examples, _thinking_modes(recipe, split, len(examples))))),
                )
            ]
            for split, examples in splits.items()
        }
        phases = {}
        for phase in recipe.phases:
            phase_stats = {}
            parts = {}
            for split, items in tokenized.items():
                cols: dict[str, list] = {"input_ids": [], "assistant_masks": [], "source": [], "row_id": []}
                for ex, ids, mask in items:
                    for w_ids, w_mask in rolling_windows(ids, mask, phase.window, phase.stride):
                        cols["input_ids"].append(w_ids)
                        cols["assistant_masks"].append(w_mask)
                        cols["source"].append(ex.source)
                        cols["row_id"].append(ex.row_id)
                lengths = [len(x) for x in cols["input_ids"]]
                phase_stats[split] = {
                    "examples": len(items),
                    "windows": len(lengths),
                    "tokens": sum(lengths),
                    "loss_tokens": sum(sum(m) for m in cols["assistant_masks"]),
                    "mean_length": round(sum(lengths) / len(lengths), 1) if lengths else 0,
                    "max_length": max(lengths, default=0),
                    "cut_examples": sum(1 for _, ids, _ in items if len(ids) > phase.window),
                }
                parts[split] = Dataset.from_dict(cols)
            DatasetDict(parts).save_to_disk(tmp / phase.name)
            phases[phase.name] = {"window": phase.window, "stride": phase.stride, **phase_stats}

        manifest = {
            "recipe": to_dict(recipe),
            "sources": stats,
            "splits": {s: len(e) for s, e in splits.items()},
            "no_think_examples": {s: _thinking_modes(recipe, s, len(e)).count(False) for s, e in splits.items()},
            "phases": phases,
            "hashes": {s: _hash_rows(r) for s, r in rows.items()},
            "quarantined": sum(sum(s["rejected"].values()) for s in stats.values()),
            "tokenizer": recipe.tokenizer,
            "versions": _versions(),
            "code": code_fingerprint(),
            "seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _empty_conversations():
    from datasets import Dataset

    return Dataset.from_dict({"source": [], "row_id": [], "messages": [], "tools": [], "metadata": []})


def _install(tmp: Path, out: Path) -> None:
    """Move the finished build into place; an existing output (only with --overwrite) is replaced, not merged."""
    if out.exists():
        trash = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out, trash)
        os.rename(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, out)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("smolthink", "transformers", "datasets", "tokenizers", "reasoning-gym"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def code_fingerprint() -> str:
    """A hash of the code that shapes a build (sources, filters, windows, chat template): a cached build made by
    other code is stale even when its recipe is unchanged."""
    import smolthink

    root = Path(smolthink.__file__).parent
    files = sorted([*(root / "data").rglob("*.py"), *(root / "templates").glob("*.jinja"), root / "formats.py"])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def load_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise BuildError(f"{folder} is not a built dataset: {path} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BuildError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise BuildError(f"{path} is not a manifest: expected a JSON object, got {type(manifest).__name__}")
    return manifest


def load_conversations(folder: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """The selected conversations of a build, decoded back into the schema."""
    from datasets import load_from_disk

    ds = load_from_disk(str(Path(folder) / "conversations"))
    if split not in ds:
        raise BuildError(f"{folder} has no split {split!r}; splits: {', '.join(ds)}")
    return [
        {"source": r["source"], "row_id": r["row_id"], "messages": json.loads(r["messages"]), "tools": json.loads(r["tools"]),
         "metadata": json.loads(r["metadata"])}
        for r in ds[split]
    ]
