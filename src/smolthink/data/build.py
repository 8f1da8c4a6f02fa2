"""`smolthink data build`: a data recipe → training-ready datasets, reproducibly, every rejected row accounted for.

Pipeline: read each source (adapters normalize into the conversation schema) → filters → duplicate removal across
sources → mixture (counts / weights, seeded) → train/validation split → tokenize with the chat template
(input_ids + assistant mask) → rolling windows per phase → write.

Output directory (written under a temporary name and renamed into place at the end, so a killed build never
leaves a directory that looks complete; what killed builds left beside it is removed by the next one):

    conversations/            DatasetDict(train, validation): source, row_id, messages, tools, metadata (JSON text)
    <phase>/                  DatasetDict(train, validation): input_ids, assistant_masks, source, row_id
    quarantine.jsonl          every rejected row: source, row_id, reason, detail
    manifest.json             resolved recipe, per-source counts, token statistics, content hashes, versions,
                              the chat template's hash (smolthink's, or the model's own with `chat_template: model`)
    prompts.sha256            a hash of every distinct user turn of the mixture: eval skips cases found here

Every split is written, empty ones too (validation: 0, a one-example mixture), and reads back as an empty split.
`--overwrite` replaces only a previous build (a directory with a manifest.json) or an empty directory, and no
`--out` may hold an input of the build (the recipe file, a local source): nothing else is ever deleted. A build
whose rows were all rejected keeps them in `<out>.quarantine.jsonl` beside the output and says why in its error.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smolthink.atomic import atomic_output
from smolthink.config import ConfigError, to_dict
from smolthink.data.decontam import HASH_FILE, hashes_of
from smolthink.data.example import Example, Rejected, SourceError
from smolthink.data.filters import Deduplicator, check
from smolthink.data.recipe import DataRecipe, SourceSpec
from smolthink.data.windows import rolling_windows, tokenize_conversations
from smolthink.errors import UserError
from smolthink.formats import template_sha256

SPLITS = ("train", "validation")
CONVERSATION_COLUMNS = ("source", "row_id", "messages", "tools", "metadata")
# What the readers of a manifest (data show/stats, train) use, checked when it is loaded.
_MANIFEST_KEYS = {"recipe": dict, "sources": dict, "splits": dict, "phases": dict, "tokenizer": str}
_SOURCE_KEYS = {"type": str, "read": int, "kept": int, "rejected": dict}
_PHASE_STATS = ("examples", "windows", "tokens", "loss_tokens", "mean_length", "max_length", "cut_examples")


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

        return synthetic_tools.generate(spec.n, seed=spec.seed, name=spec.name, kinds=spec.kinds,
                                        decisions=spec.decisions, result_share=spec.result_share)
    if spec.type == "distilled":  # a `smolthink distill` output folder
        from smolthink.distill import load_distilled

        return load_distilled(spec.path, name=spec.name, limit=spec.n)
    if spec.type == "reasoning-gym":
        from smolthink.data.sources import gym

        return gym.generate(spec.n, seed=spec.seed, name=spec.name, tasks=spec.tasks, solutions=spec.solutions)
    raise ConfigError(f"unknown source type {spec.type!r}")


def _read(spec: SourceSpec) -> Iterator[Example | Rejected]:
    """`iter_source`, with a source that cannot be read (at the start, or half-way: a corrupt parquet page, a file
    that went away) reported as a BuildError that names it."""
    import pyarrow as pa

    try:
        yield from iter_source(spec)
    except SourceError as e:
        raise BuildError(f"source {spec.name!r}: {e}") from None
    except (OSError, pa.ArrowException) as e:
        where = spec.path or spec.data_files or spec.hf_id or spec.type
        raise BuildError(f"source {spec.name!r} ({where}): reading failed: {e}") from None


def load_tokenizer(ref: str) -> Any:
    from transformers import AutoTokenizer

    from smolthink.models import resolve_model

    source, gguf_file = resolve_model(ref).hf_source()
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    return AutoTokenizer.from_pretrained(source, **kwargs)


def data_template(recipe: DataRecipe, tokenizer: Any) -> str:
    """The chat template the build renders with: smolthink's, or with `chat_template: model` the tokenizer's own,
    checked to carry what training and inference need (ConfigError naming the key and the fix)."""
    from smolthink.formats import chat_template, has_generation_spans, is_tool_aware

    if recipe.chat_template == "smolthink":
        return chat_template()
    own = tokenizer.chat_template
    fix = "use chat_template: smolthink or a template with {% generation %} spans"
    if not isinstance(own, str) or not own.strip():
        raise ConfigError(f"chat_template: model, but the tokenizer of {recipe.tokenizer!r} has no chat template; "
                          f"{fix}")
    if not has_generation_spans(own):
        raise ConfigError(f"chat_template: model, but the chat template of {recipe.tokenizer!r} has no "
                          "{% generation %} spans, which assistant-only training needs to find what the model "
                          f"generates; {fix}")
    if not is_tool_aware(own):
        raise ConfigError(f"chat_template: model, but the chat template of {recipe.tokenizer!r} does not render "
                          "tools (no `tools` and `tool_call` in it), so chat, serve and export would not use it; "
                          f"use chat_template: smolthink or a tool-aware template with {{% generation %}} spans")
    return own


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


def _thinking_modes(recipe: DataRecipe, split: str, examples: list[Example]) -> list[bool]:
    """Per example: render with thinking (True) or in no-think mode; a seeded `no_think_fraction` of them in no-think.
    A conversation with no reasoning in any assistant turn (plain chat, a teacher answering without thinking) always
    renders in no-think mode: in think mode it would train an empty think block as the answer to "<think>"."""
    if not recipe.enable_thinking:
        return [False] * len(examples)
    rng = random.Random(f"{recipe.seed}:no_think:{split}")
    draws = [rng.random() >= recipe.no_think_fraction for _ in examples]  # drawn for every example: stable modes
    return [draw and _has_reasoning(ex) for draw, ex in zip(draws, examples)]


def _has_reasoning(example: Example) -> bool:
    return any(m.get("role") == "assistant" and (m.get("reasoning") or m.get("reasoning_content"))
               for m in example.messages)


def _hash_rows(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def build(recipe: DataRecipe, out: str | Path, *, overwrite: bool = False, console: Any = None) -> dict[str, Any]:
    """Run the recipe and write the output directory; returns the manifest."""
    from datasets.utils.logging import disable_progress_bar
    from rich.console import Console

    console = console or Console(stderr=True)
    disable_progress_bar()  # datasets' per-save bars would drown the build's own progress and tables
    out = Path(out)
    _check_out(out, recipe, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # an existing output (only with --overwrite) is replaced, not merged; _check_out runs again right before the
    # move: something may have appeared there while we built
    with atomic_output(out, directory=True, check=lambda: _check_out(out, recipe, overwrite)) as tmp:
        manifest = _build_into(tmp, recipe, out, console, started)
    _quarantine_beside(out).unlink(missing_ok=True)  # an earlier failed build's rejected rows, now stale
    return manifest


def _build_into(tmp: Path, recipe: DataRecipe, out: Path, console: Any, started: float) -> dict[str, Any]:
    """The build's whole output, written into the directory `tmp`; returns the manifest."""
    from datasets import Dataset, Features, List, Value
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tokenizer = load_tokenizer(recipe.tokenizer)
    template = data_template(recipe, tokenizer)
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
            for item in _read(spec):
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
                    os.utime(tmp)  # still in use: a concurrent build leaves temporaries younger than an hour
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
        raise BuildError(_nothing_selected(stats, _keep_quarantine(tmp, out)))
    n_val = round(len(mixture) * recipe.validation)
    if recipe.validation > 0 and n_val == 0 and len(mixture) > 1:
        n_val = 1
    n_val = min(n_val, len(mixture) - 1)  # the train split never ends up empty
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
    # Explicit features: an empty split has the same columns and types as a full one.
    text = Features({c: Value("string") for c in CONVERSATION_COLUMNS})
    _save_splits({s: Dataset.from_dict({c: [row[c] for row in r] for c in CONVERSATION_COLUMNS}, features=text)
                  for s, r in rows.items()}, tmp / "conversations")

    tokenized = {
        split: [
            (ex, ids, mask)
            for ex, (ids, mask) in zip(
                examples,
                tokenize_conversations(tokenizer, ((ex.messages, ex.tools, thinking) for ex, thinking in
                                                   zip(examples, _thinking_modes(recipe, split, examples))),
                                       template=template, tool_style=recipe.tool_style),
            )
        ]
        for split, examples in splits.items()
    }
    window_features = Features({"input_ids": List(Value("int64")), "assistant_masks": List(Value("int64")),
                                "source": Value("string"), "row_id": Value("string")})
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
            parts[split] = Dataset.from_dict(cols, features=window_features)
        _save_splits(parts, tmp / phase.name)
        phases[phase.name] = {"window": phase.window, "stride": phase.stride, **phase_stats}

    prompt_hashes = hashes_of(ex.messages for examples in splits.values() for ex in examples)
    (tmp / HASH_FILE).write_text("".join(h + "\n" for h in prompt_hashes), encoding="utf-8")
    manifest = {
        "recipe": to_dict(recipe),
        "sources": stats,
        "splits": {s: len(e) for s, e in splits.items()},
        "no_think_examples": {s: _thinking_modes(recipe, s, e).count(False) for s, e in splits.items()},
        "phases": phases,
        "hashes": {s: _hash_rows(r) for s, r in rows.items()},
        "prompt_hashes": {"file": HASH_FILE, "count": len(prompt_hashes)},  # what eval decontaminates against
        "quarantined": sum(sum(s["rejected"].values()) for s in stats.values()),
        "tokenizer": recipe.tokenizer,
        # which template rendered the data: a run must train and serve with this same one (train checks it)
        "chat_template": {"name": recipe.chat_template, "sha256": template_sha256(template)},
        "versions": _versions(),
        "code": code_fingerprint(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _inputs(recipe: DataRecipe) -> list[Path]:
    """The files and folders a build reads (its recipe file, local sources and data_files), resolved."""
    paths = [recipe.recipe_file] if recipe.recipe_file is not None else []
    for spec in recipe.sources:
        files = spec.data_files if isinstance(spec.data_files, list) else [spec.data_files]
        paths += [Path(p) for p in [spec.path, *files] if p]  # a glob's folder is among its parents
    return [p.expanduser().resolve() for p in paths]


def _check_out(out: Path, recipe: DataRecipe, overwrite: bool) -> None:
    """Refuse an output that holds an input of the build, and any existing one that is not a previous build."""
    target = out.expanduser().resolve()
    for path in _inputs(recipe):
        if path == target or target in path.parents:
            raise BuildError(f"--out {out} holds {path}, an input of this build, which replacing {out} would "
                             "delete: choose another --out")
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise BuildError(f"{out} already exists: choose another --out or pass --overwrite to replace it")
    is_folder = out.is_dir() and not out.is_symlink()
    if not is_folder or not ((out / "manifest.json").is_file() or not any(out.iterdir())):
        raise BuildError(f"{out} is not a smolthink data build (it has no manifest.json): --overwrite replaces "
                         "only a previous build, so nothing was deleted; choose another --out or remove it yourself")


def _quarantine_beside(out: Path) -> Path:
    return out.with_name(f"{out.name}.quarantine.jsonl")


def _keep_quarantine(tmp: Path, out: Path) -> Path | None:
    """Move a failed build's quarantine out of its temporary directory, beside the output, so it can be read."""
    quarantine = tmp / "quarantine.jsonl"
    if quarantine.stat().st_size == 0:
        return None
    kept = _quarantine_beside(out)
    os.replace(quarantine, kept)
    return kept


def _nothing_selected(stats: dict[str, dict[str, Any]], quarantine: Path | None) -> str:
    """Why a build has no examples: the rows read per source and the most common rejection reasons."""
    read = ", ".join(f"{name}: {s['read']}" for name, s in stats.items())
    if not any(s["read"] for s in stats.values()):
        return f"no examples: the sources gave no rows (rows read: {read})"
    if any(s["kept"] for s in stats.values()):
        return (f"no examples: the mixture selected none of the {sum(s['kept'] for s in stats.values())} kept "
                "examples; check the sources' count/weight and the recipe's size")
    reasons: Counter[str] = Counter()
    for s in stats.values():
        reasons.update(s["rejected"])
    top = ", ".join(f"{reason}: {count}" for reason, count in reasons.most_common(5))
    more = f" and {len(reasons) - 5} more reasons" if len(reasons) > 5 else ""
    return (f"no examples survived the filters: every row was rejected (rows read: {read}; reasons: {top}{more}); "
            f"the rejected rows are in {quarantine}")


def _save_splits(parts: dict[str, Any], folder: Path) -> None:
    """Save train/validation as a DatasetDict. An empty split gets one empty shard: saved with none (datasets'
    default for 0 rows), it cannot be loaded back."""
    from datasets import DatasetDict

    DatasetDict(parts).save_to_disk(str(folder), num_shards={s: 1 for s, d in parts.items() if len(d) == 0})


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
    """A build's manifest.json, checked to have what its readers use (a damaged or foreign one is a BuildError)."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise BuildError(f"{folder} is not a built dataset: {path} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BuildError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise BuildError(f"{path} is not a manifest: expected a JSON object, got {type(manifest).__name__}")
    problem = _manifest_problem(manifest)
    if problem:
        raise BuildError(f"{path} is damaged or not written by smolthink data build: {problem}; rebuild the data "
                         "(smolthink data build RECIPE --out FOLDER --overwrite)")
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """The first key that readers of the manifest use and that is missing or of the wrong type, else None."""
    def wrong(where: str, value: Any, expected: type | tuple[type, ...]) -> str | None:
        if isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool):
            return None
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        return f"{where} is {'missing' if value is None else type(value).__name__}, expected {names}"

    checks: list[tuple[str, Any, type | tuple[type, ...]]] = [(k, manifest.get(k), tp) for k, tp in _MANIFEST_KEYS.items()]
    if isinstance(manifest.get("recipe"), dict):
        checks.append(("recipe.enable_thinking", manifest["recipe"].get("enable_thinking"), bool))
    for name, source in (manifest.get("sources") or {}).items():
        checks.append((f"sources.{name}", source, dict))
        if isinstance(source, dict):
            checks += [(f"sources.{name}.{key}", source.get(key), tp) for key, tp in _SOURCE_KEYS.items()]
    for split in SPLITS:
        checks.append((f"splits.{split}", (manifest.get("splits") or {}).get(split), int))
    for name, phase in (manifest.get("phases") or {}).items():
        checks.append((f"phases.{name}", phase, dict))
        if isinstance(phase, dict):
            checks += [(f"phases.{name}.{key}", phase.get(key), int) for key in ("window", "stride")]
            for split in SPLITS:
                stats = phase.get(split)
                checks.append((f"phases.{name}.{split}", stats, dict))
                if isinstance(stats, dict):
                    checks += [(f"phases.{name}.{split}.{key}", stats.get(key), (int, float)) for key in _PHASE_STATS]
    if isinstance(manifest.get("phases"), dict) and not manifest["phases"]:
        return "phases is empty"
    return next((problem for check in checks if (problem := wrong(*check))), None)


def load_part(folder: str | Path, part: str, columns: tuple[str, ...]) -> Any:
    """One saved part of a build (`conversations` or a phase) as a DatasetDict with both splits, read and checked
    in full, so that a missing or damaged file fails here, with its name, instead of half-way through training."""
    import pyarrow as pa
    from datasets import DatasetDict, load_from_disk

    path = Path(folder) / part
    fix = f"rebuild the data (smolthink data build RECIPE --out {folder} --overwrite)"
    if not path.is_dir():
        raise BuildError(f"{path} is missing: {folder} is not a complete build; {fix}")
    try:
        parts = load_from_disk(str(path))
        for split in parts.values() if isinstance(parts, DatasetDict) else []:
            split.data.table.validate(full=True)  # list offsets and lengths: garbage there crashes readers later
    except (OSError, ValueError, pa.ArrowException) as e:  # what datasets and pyarrow raise for damaged files
        raise BuildError(f"{path} cannot be read ({type(e).__name__}: {e}); {fix}") from None
    except IndexError:  # datasets' error for a split saved without shards (an empty split by older smolthink)
        raise BuildError(f"{path} has a split that cannot be read (an empty split written by an older smolthink); "
                         f"{fix}") from None
    if not isinstance(parts, DatasetDict) or any(split not in parts for split in SPLITS):
        raise BuildError(f"{path} is not a train/validation DatasetDict; {fix}")
    for split in SPLITS:
        missing = [c for c in columns if c not in parts[split].column_names]
        if missing:
            raise BuildError(f"{path}: the {split} split lacks the column(s) {', '.join(missing)}; {fix}")
    return parts


def load_conversations(folder: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """The selected conversations of a build, decoded back into the schema."""
    if split not in SPLITS:
        raise BuildError(f"{folder} has no split {split!r}; splits: {', '.join(SPLITS)}")
    rows = []
    for i, r in enumerate(load_part(folder, "conversations", CONVERSATION_COLUMNS)[split]):
        try:
            rows.append({**r, **{key: json.loads(r[key]) for key in ("messages", "tools", "metadata")}})
        except (TypeError, ValueError) as e:
            raise BuildError(f"{Path(folder) / 'conversations'}: {split} row {i} ({r['source']}/{r['row_id']}) "
                             f"is not valid JSON ({e}); rebuild the data") from None
    return rows
