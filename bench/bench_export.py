"""Export benchmark: `smolthink export` of the embedded SmolLM2-135M to GGUF f16 and q8_0.

For each quantization: the export time (loading the cached fp32 transformers copy, converting, writing, fsync),
the file size, and greedy fidelity: over 20 prompts (bench/fidelity.py's 10 questions x think/no_think), how
often llama.cpp on the exported file produces exactly the first 32 greedy tokens of transformers fp32.
Timings on shared machines drift; the sizes and agreement counts do not.

    python bench/bench_export.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from fidelity import N, QUESTIONS, greedy_llama
from llama_cpp import Llama

from smolthink.export import export_model
from smolthink.formats import render
from smolthink.models import load_hf, resolve_model


def main() -> None:
    model, tokenizer = load_hf(resolve_model("smollm2-135m"), dtype=torch.float32)  # also warms the cache
    prompts = [render([{"role": "user", "content": q}], enable_thinking=t, add_generation_prompt=True) for t in (False, True) for q in QUESTIONS]
    reference = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=N, do_sample=False, temperature=None, top_p=None, top_k=None)
        reference.append(out[0, ids["input_ids"].shape[1] :].tolist())

    print(f"| GGUF | export time | size | prompts whose first {N} greedy tokens equal transformers fp32 |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for quant in ("f16", "q8_0"):
            started = time.perf_counter()
            path = export_model("smollm2-135m", "gguf", quant, Path(folder) / f"smollm2-135m-{quant}.gguf")
            seconds = time.perf_counter() - started
            llm = Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False)
            same = sum(greedy_llama(llm, prompt) == ref for prompt, ref in zip(prompts, reference))
            llm.close()
            print(f"| {quant} | {seconds:.1f} s | {path.stat().st_size / 2**20:.0f} MiB | {same}/{len(prompts)} |")


if __name__ == "__main__":
    main()
