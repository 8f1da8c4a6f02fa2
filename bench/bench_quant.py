"""Export quantization benchmark: `smolthink export --quant` of the embedded SmolLM2-135M, each quant vs f16.

For each quantization: the file size, decode tokens/s in llama.cpp (2 threads, greedy, 64 new tokens on the
same 5 prompts, interleaved across the files, prefill excluded; the median prompt), and greedy agreement with the f16 export: over 20 prompts
(bench/fidelity.py's 10 questions x think/no_think), how often the first 32 greedy tokens equal f16's. Ratios
are to f16. The k-quants fall back to q5_0/q8_0 on SmolLM2-135M's 576-wide rows (not a multiple of 256), as
llama.cpp's own quantizer decides. Timings on shared machines drift; sizes and agreement counts do not.

    python bench/bench_quant.py [--out-dir /tmp/bench_quant]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from fidelity import N, QUESTIONS, greedy_llama
from llama_cpp import Llama

from smolthink.export import export_model
from smolthink.formats import render

QUANTS = ("f16", "q8_0", "q5_k_m", "q4_k_m", "q4_0")
DECODE_TOKENS = 64


def decode_tok_s(llm: Llama, prompt: str) -> float:
    """Tokens/s after the first new token (the prefill is excluded), 64 greedy tokens, EOS not stopping it."""
    llm.reset()
    count, started = 0, 0.0
    for _ in llm.generate(llm.tokenize(prompt.encode(), add_bos=False, special=True), temp=0.0):
        count += 1
        if count == 1:
            started = time.perf_counter()
        if count >= DECODE_TOKENS:
            break
    return (count - 1) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/bench_quant"))
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    prompts = [render([{"role": "user", "content": q}], enable_thinking=t, add_generation_prompt=True)
               for t in (False, True) for q in QUESTIONS]
    speed_prompts = prompts[:5]

    rows, llms = {}, {}
    for quant in QUANTS:
        path = export_model("smollm2-135m", "gguf", quant, args.out_dir / f"smollm2-135m-{quant}.gguf", force=True)
        llms[quant] = Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False)
        rows[quant] = {"size": path.stat().st_size, "greedy": [greedy_llama(llms[quant], p) for p in prompts]}
    speeds: dict[str, list[float]] = {quant: [] for quant in QUANTS}
    for prompt in speed_prompts:  # interleaved, so that the machine's drift hits every quantization alike
        for quant in QUANTS:
            speeds[quant].append(decode_tok_s(llms[quant], prompt))
    for quant, llm in llms.items():
        rows[quant]["tok_s"] = statistics.median(speeds[quant])
        llm.close()

    base = rows["f16"]
    print(f"{platform.processor() or platform.machine()}, {platform.system()}, llama-cpp-python, n_threads=2\n")
    print(f"| GGUF | size | size vs f16 | decode tok/s | vs f16 | prompts whose first {N} greedy tokens equal f16's "
          f"| BFCL dev |\n|---|---|---|---|---|---|---|")
    for quant, row in rows.items():
        same = sum(ours == theirs for ours, theirs in zip(row["greedy"], base["greedy"]))
        print(f"| {quant} | {row['size'] / 2**20:.0f} MiB | {row['size'] / base['size']:.2f}x | {row['tok_s']:.0f} "
              f"| {row['tok_s'] / base['tok_s']:.2f}x | {same}/{len(prompts)} | not measured |")


if __name__ == "__main__":
    main()
