"""Eval generation speed: seconds per BFCL simple_python case on the embedded model, per backend, in one run.

The issue's target is the 400 simple_python cases in <= 5 minutes (0.75 s a case) on a 2-core CPU. This runs the
first N cases through the eval runner (no cache) with llama.cpp on the f16 and bf16 GGUFs and with transformers
batched generation (and a tuned model with --tuned), projects the time for 400, and measures the floor that
prompt reading alone sets (all 400 prompts through llama.cpp's prefill).

    python bench/bench_eval.py [--n 16] [--tuned runs/smolthink-135m-f16.gguf]

--batched N times llama.cpp's batched engine on the first N cases: the runner's batches of 8, each of which waits
for its longest reply, against 8 and 16 requests kept in flight (continuous batching, as `serve --parallel` does).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from smolthink.backends import GenerationConfig, load_backend, render_prompt
from smolthink.eval import bfcl
from smolthink.eval.runner import MAX_NEW_TOKENS, EvalOptions, generate
from smolthink.formats import render


def prefill_floor(ref: str, cases: list, all_cases: list) -> str:
    """Seconds that llama.cpp needs just to read the prompts of all 400 cases (one new token each), from the rate
    measured on `cases`: the time no decoding speed-up can remove."""
    engine = load_backend(ref, "llama")
    prompts = [render(c.messages, c.tools, enable_thinking=c.enable_thinking, add_generation_prompt=True,
                      template=engine.template) for c in all_cases]
    counts = [engine.count_tokens(p) for p in prompts]
    total = sum(counts)
    started = time.perf_counter()
    for p in prompts[: len(cases)]:
        "".join(engine.stream(p, GenerationConfig(max_new_tokens=1)))
    rate = sum(counts[: len(cases)]) / (time.perf_counter() - started)
    return (f"prompts of all {len(all_cases)} cases: {total:,} tokens (mean {total / len(all_cases):.0f}); "
            f"llama.cpp f16 prefill {rate:.0f} tok/s → {total / rate / 60:.1f} min before any decoding")


def in_flight(engine, cases: list, width: int) -> list[int]:
    """Continuous batching: `width` requests in flight, the next submitted the moment one ends; new tokens each."""
    from concurrent.futures import ThreadPoolExecutor

    def one(case) -> int:
        prompt = render_prompt(engine, case.messages, case.tools, enable_thinking=case.enable_thinking)
        "".join(engine.stream(prompt, GenerationConfig(max_new_tokens=MAX_NEW_TOKENS["bfcl"])))
        return engine.stats.completion_tokens

    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(one, cases))


def batched(ref: str, cases: list) -> None:
    """Seconds per case with the batched engine: the runner's batches of 8 (each waits for its longest reply)
    against continuous batching at 8 and 16 requests in flight."""
    rows = []
    for label, width, continuous in (("runner: batches of 8, each waits for its longest", 8, False),
                                     ("8 in flight (continuous)", 8, True), ("16 in flight (continuous)", 16, True)):
        engine = load_backend(ref, "llama", parallel=width)
        started = time.perf_counter()
        if continuous:
            tokens = in_flight(engine, cases, width)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                tokens = [g["tokens"] for g in generate(engine, cases, Path(tmp) / "g.jsonl",
                                                        EvalOptions(batch_size=width)).values()]
        per = (time.perf_counter() - started) / len(cases)
        rows.append((label, per, sum(tokens) / len(tokens)))
    print(f"\n{ref}, {len(cases)} cases, llama.cpp batched engine\n")
    print("| path | s/case | mean new tokens | vs the runner |\n|---|---|---|---|")
    for label, per, tokens in rows:
        print(f"| {label} | {per:.2f} | {tokens:.0f} | {rows[0][1] / per:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--tuned", help="also time a tuned model (a GGUF or run directory), e.g. runs/smolthink-135m-f16.gguf")
    ap.add_argument("--batched", type=int, metavar="N", help="only time the batched engine on N cases (base, tuned)")
    args = ap.parse_args()
    all_cases = bfcl.load_cases(["simple_python"])
    if args.batched:
        for ref in ["smollm2-135m", *([args.tuned] if args.tuned else [])]:
            batched(ref, all_cases[: args.batched])
        return
    cases = all_cases[: args.n]
    print(f"\n{args.n} BFCL simple_python cases, think mode, max 256 new tokens, greedy\n")
    print("| path | s/case | mean new tokens | projected for 400 cases |\n|---|---|---|---|")
    paths = [
        ("llama.cpp, f16 GGUF (default)", "smollm2-135m", "llama", 1),
        ("llama.cpp, bf16 GGUF", "smollm2-135m-bf16", "llama", 1),
        ("transformers fp32, batch 8", "smollm2-135m", "transformers", 8),
    ]
    if args.tuned:
        paths.append((f"llama.cpp, tuned: {args.tuned}", args.tuned, "llama", 1))
    for label, ref, backend, batch in paths:
        engine = load_backend(ref, backend)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            gens = generate(engine, cases, Path(tmp) / "g.jsonl", EvalOptions(batch_size=batch))
            per = (time.perf_counter() - started) / len(cases)
        tokens = sum(g["tokens"] for g in gens.values()) / len(gens)
        print(f"| {label} | {per:.2f} | {tokens:.0f} | {per * 400 / 60:.1f} min |")
    print("\n" + prefill_floor("smollm2-135m", cases, all_cases))


if __name__ == "__main__":
    main()
