"""Run suites on a model: render prompts, generate (cached, resumable), parse, score, aggregate.

Generations are appended to `<out>/<model tag>/generations.jsonl` as they finish, keyed by the case id, the exact
prompt text and the generation settings. Re-running the same eval costs nothing but scoring, and an interrupted
eval resumes where it stopped. Greedy decoding: results are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolthink.backends import GenerationConfig, render_prompt
from smolthink.eval.cases import Case, Scored
from smolthink.formats import generation_prefix, parse_assistant

# Generated suites: modules with load_cases(limit=, split=, enable_thinking=), split_size(split), score(case, parsed).
GENERATED = {"functions": "smolthink.eval.functions",  # tool calls on functions absent from training
             "search_qa": "smolthink.eval.search_qa",  # local_search called, answer correct and grounded
             "ifeval": "smolthink.eval.ifeval"}  # everyday prompts with verifiable instructions
DEFAULT_SUITES = ("bfcl", "reasoning", "compliance", *GENERATED)
SUITES = ("default", *DEFAULT_SUITES)
# Tokens per answer: tool calls are short; reasoning needs room to think (the data recipes cap it at 256 words).
MAX_NEW_TOKENS = {"bfcl": 256, "reasoning": 512, "compliance": 512, "functions": 256, "search_qa": 384, "ifeval": 384}


def _suite_module(name: str) -> Any:
    import importlib

    return importlib.import_module(GENERATED[name])


@dataclass
class EvalOptions:
    suite: str = "default"
    split: str = "test"  # "dev" (make decisions here) | "test" (report) | "all"; see eval/cases.py
    limit: int | None = None  # cases per category: a fixed random sample of its split (cases.sample)
    bfcl_categories: list[str] | None = None
    reasoning_tasks: list[str] | None = None  # "gym/<task>" or "synthetic/<task>"; None: the default set
    enable_thinking: bool = True
    batch_size: int = 8  # prompts generated together (transformers: padded batches; llama.cpp: parallel sequences)
    gpu_layers: int | None = None  # llama.cpp layers on the GPU (-1 all); None: all when the build has a GPU backend
    trust_remote_code: bool = False  # a transformers model may run the Python code it ships (models.load_hf)
    max_new_tokens: dict[str, int] = field(default_factory=lambda: dict(MAX_NEW_TOKENS))


def suite_names(suite: str) -> list[str]:
    """"default" → every suite; otherwise one suite or a comma-separated list ("compliance,reasoning")."""
    names = [s.strip() for s in suite.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES] or ([] if names else [suite])
    if unknown:
        raise ValueError(f"unknown suite {unknown[0]!r}; valid suites: {', '.join(SUITES)}")
    if "default" in names:
        return list(DEFAULT_SUITES)
    return list(dict.fromkeys(names))


def load_cases(options: EvalOptions) -> list[Case]:
    cases: list[Case] = []
    for name in suite_names(options.suite):
        if name == "bfcl":
            from smolthink.eval import bfcl

            categories = options.bfcl_categories or bfcl.DEFAULT_CATEGORIES
            cases += bfcl.load_cases(categories, limit=options.limit, enable_thinking=options.enable_thinking,
                                     split=options.split)
        elif name == "reasoning":
            from smolthink.eval import reasoning

            gym_tasks, synthetic_tasks = reasoning.split_tasks(options.reasoning_tasks)
            cases += reasoning.load_cases(limit=options.limit, enable_thinking=options.enable_thinking,
                                          gym_tasks=gym_tasks, synthetic_tasks=synthetic_tasks, split=options.split)
        elif name == "compliance":
            from smolthink.eval import compliance

            cases += compliance.load_cases(limit=options.limit, split=options.split)
        else:
            cases += _suite_module(name).load_cases(limit=options.limit, split=options.split,
                                                    enable_thinking=options.enable_thinking)
    return cases


def decontaminate(cases: Sequence[Case], refs: Sequence[str | None]) -> tuple[list[Case], dict[str, Any]]:
    """The cases whose user turns no model of the comparison was trained on (data/decontam.py), and what was skipped:
    {"skipped": {suite: n}, "hash_files": [...]}. The same cases are dropped for every model, so comparisons stay
    paired."""
    from smolthink.data.decontam import prompt_hash, training_data_of, training_hashes, user_prompts

    folders = [d for d in (training_data_of(ref) for ref in refs) if d is not None]
    seen, files = training_hashes(folders)
    kept, skipped = [], defaultdict(int)
    for case in cases:
        if seen and any(prompt_hash(text) in seen for text in user_prompts(case.messages)):
            skipped[case.suite] += 1
        else:
            kept.append(case)
    return kept, {"skipped": dict(skipped), "hash_files": files}


def cut_by_limit(options: EvalOptions, cases: Sequence[Case]) -> dict[str, dict[str, dict[str, int]]]:
    """{suite: {category: {"n": cases evaluated, "of": cases in the whole split}}} for the categories that `limit`
    cut short: their numbers are not the split's."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for case in cases:
        counts[(case.suite, case.category)] += 1
    whole: dict[tuple[str, str], int] = {}
    for name in suite_names(options.suite):
        if name == "bfcl":
            from smolthink.eval import bfcl

            sizes = bfcl.split_sizes(options.bfcl_categories or bfcl.DEFAULT_CATEGORIES, options.split)
            whole.update({("bfcl", c): n for c, n in sizes.items()})
        else:
            from smolthink.eval import compliance, reasoning

            module = {"reasoning": reasoning, "compliance": compliance}.get(name) or _suite_module(name)
            size = module.split_size(options.split)
            whole.update({key: size for key in counts if key[0] == name})
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (suite, category), of in sorted(whole.items()):
        if counts.get((suite, category), 0) < of:
            out.setdefault(suite, {})[category] = {"n": counts.get((suite, category), 0), "of": of}
    return out


def model_tag(ref: str) -> str:
    """A folder name for a model reference: readable, unique enough."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.strip("/"))[-60:]
    return f"{readable}-{hashlib.sha1(ref.encode()).hexdigest()[:6]}"


def _key(case: Case, prompt: str, max_new_tokens: int, backend: str) -> str:
    return hashlib.sha256(json.dumps([case.id, prompt, max_new_tokens, backend]).encode()).hexdigest()[:24]


def generate(
    backend: Any,
    cases: Sequence[Case],
    cache: Path,
    options: EvalOptions,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Generations for every case ({case_id: {"raw", "prompt", "finish_reason", "tokens", "seconds"}}), from the
    cache where possible; new ones are appended to the cache as they finish."""
    done: dict[str, dict[str, Any]] = {}
    if cache.is_file():
        for line in cache.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill: that case is generated again
            done[row["key"]] = row
    todo, results = [], {}
    for case in cases:
        prompt = render_prompt(backend, case.messages, case.tools, enable_thinking=case.enable_thinking)
        n = options.max_new_tokens[case.suite]
        key = _key(case, prompt, n, backend.name)
        if key in done:
            results[case.id] = done[key]
        else:
            todo.append((case, prompt, n, key))
    finished = len(results)
    if progress:
        progress(finished, len(cases))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a", encoding="utf-8") as f:
        if cache.stat().st_size and not cache.read_bytes().endswith(b"\n"):
            f.write("\n")  # a line cut short by a kill: new rows must not be glued onto it

        def save(case: Case, prompt: str, key: str, raw: str, finish: str, tokens: int, seconds: float) -> None:
            nonlocal finished
            row = {"key": key, "case_id": case.id, "prompt": prompt, "raw": raw, "finish_reason": finish, "tokens": tokens, "seconds": round(seconds, 3)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            results[case.id] = row
            finished += 1
            if progress:
                progress(finished, len(cases))

        if hasattr(backend, "generate_batch"):
            # Batches of equal max_new_tokens, prompts sorted by length so padding stays small.
            groups: dict[int, list] = defaultdict(list)
            for item in todo:
                groups[item[2]].append(item)
            for n, items in groups.items():
                items.sort(key=lambda x: len(x[1]))
                for i in range(0, len(items), options.batch_size):
                    chunk = items[i : i + options.batch_size]
                    started = time.perf_counter()
                    outs = backend.generate_batch([p for _, p, _, _ in chunk], GenerationConfig(max_new_tokens=n))
                    per = (time.perf_counter() - started) / len(chunk)
                    for (case, prompt, _, key), (raw, finish, tokens) in zip(chunk, outs):
                        save(case, prompt, key, raw, finish, tokens, per)
        else:
            for case, prompt, n, key in todo:
                started = time.perf_counter()
                raw = "".join(backend.stream(prompt, GenerationConfig(max_new_tokens=n)))
                stats = backend.stats
                save(case, prompt, key, raw, stats.finish_reason, stats.completion_tokens, time.perf_counter() - started)
    return results


def score(cases: Sequence[Case], generations: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case: the Scored result, plus the parsed answer for the report. Garbage output scores 0, never raises."""
    rows = []
    for case in cases:
        gen = generations[case.id]
        parsed = parse_assistant(generation_prefix(gen["prompt"]) + gen["raw"])
        if case.suite == "bfcl":
            from smolthink.eval import bfcl

            result: Scored = bfcl.score(case, parsed)
        elif case.suite == "reasoning":
            from smolthink.eval import reasoning

            result = reasoning.score(case, parsed)
        elif case.suite in GENERATED:
            result = _suite_module(case.suite).score(case, parsed)
        else:
            from smolthink.eval import compliance

            check = compliance.check(parsed, gen["raw"], enable_thinking=case.enable_thinking, finish_reason=gen["finish_reason"])
            result = Scored(case.id, case.category, check["ok"], float(check["ok"]), "; ".join(check["problems"]))
        rows.append({
            "suite": case.suite, "category": case.category, "case_id": case.id, "correct": result.correct,
            "score": result.score, "detail": result.detail, "raw": gen["raw"], "finish_reason": gen["finish_reason"],
            "tokens": gen["tokens"], "question": _question(case), "group": case.group,
        })
        if case.suite == "compliance":
            rows[-1]["check"] = check
    return rows


def _question(case: Case) -> str:
    users = [m["content"] for m in case.messages if m["role"] == "user"]
    return users[-1] if users else ""


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{suite: {"categories": {cat: {"n", "correct", "accuracy", "ci", "ci_method"}}, "overall": {...}}}, plus
    "groups" ({group: {...}}) for a suite whose cases carry groups; accuracy and its 95 % interval in percent."""
    out: dict[str, Any] = {}
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["suite"], r["category"])].append(r)
    for (suite, category), items in sorted(by.items()):
        cats = out.setdefault(suite, {"categories": {}})["categories"]
        cats[category] = _acc(items)
    for suite, data in out.items():
        data["overall"] = _acc([r for r in rows if r["suite"] == suite])
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["suite"] == suite and r.get("group"):
                groups[r["group"]].append(r)
        if groups:
            data["groups"] = {g: _acc(items) for g, items in groups.items()}
    return out


def _acc(items: list[dict[str, Any]]) -> dict[str, Any]:
    from smolthink.eval.stats import accuracy

    return {"correct": sum(r["correct"] for r in items), **accuracy([r["score"] for r in items])}


def compliance_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Length and format statistics over the compliance prompts."""
    from smolthink.eval import compliance

    checks = [r["check"] for r in rows if r["suite"] == "compliance"]
    return compliance.summarize(checks) if checks else {}


def weights_fingerprint(ref: str | None) -> str:
    """Name, size and mtime of a local model's files: retraining or re-exporting into the same path changes it."""
    path = Path(ref) if ref else None
    if path is None or not path.exists():
        return ref or "smollm2-135m"  # embedded models and hub ids: the name is the identity
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha1(json.dumps(stats).encode()).hexdigest()


def _forget_other_weights(folder: Path, ref: str | None, status: Callable[[str], None] | None) -> None:
    """Cached generations belong to one set of weights; those of earlier weights at the same path move aside."""
    marker, cache = folder / "weights.txt", folder / "generations.jsonl"
    fingerprint = weights_fingerprint(ref)
    if cache.is_file() and (not marker.is_file() or marker.read_text(encoding="utf-8") != fingerprint):
        stale = cache.with_name(f"generations.{int(time.time())}.stale.jsonl")
        cache.rename(stale)
        if status:
            status(f"{ref}: the model files changed since the cached generations; kept them as {stale.name}")
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint, encoding="utf-8")


def evaluate_model(
    ref: str | None,
    backend_name: str,
    cases: Sequence[Case],
    out: Path,
    options: EvalOptions,
    progress: Callable[[int, int], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate (cached) and score every case on one model; returns {"ref", "backend", "suites", "cases", …}."""
    from smolthink.backends import load_backend

    # llama.cpp decodes batch_size sequences together (BatchedLlamaBackend), the engine `serve --parallel` uses.
    backend = load_backend(ref, backend_name, progress=status, parallel=options.batch_size,
                           gpu_layers=options.gpu_layers, trust_remote_code=options.trust_remote_code)
    started = time.perf_counter()
    folder = out / model_tag(ref or "smollm2-135m")
    _forget_other_weights(folder, ref, status)
    generations = generate(backend, cases, folder / "generations.jsonl", options, progress)
    rows = score(cases, generations)
    result = {
        "ref": ref or "smollm2-135m",
        "backend": backend.name,
        "suites": aggregate(rows),
        "cases": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "generated_tokens": sum(r["tokens"] for r in rows),
    }
    if any(c.suite == "compliance" for c in cases):
        result["compliance_stats"] = compliance_stats(rows)
    (out / model_tag(result["ref"]) / "scores.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "raw"}, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return result
