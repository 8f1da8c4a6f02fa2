"""Inference benchmark: smolthink's chat path vs raw llama-cpp-python vs HF `generate`, same prompt, one run.

Measures decode tokens/s and time to first token (TTFT) on a ~200-token prompt, greedy, for:
  1. smolthink  — ChatSession + LlamaCppBackend (what `smolthink ask` runs), on the embedded model's f16 GGUF
  2. llama.cpp  — raw llama-cpp-python `create_completion` on the same GGUF and the same prompt tokens
  3. HF generate — transformers fp32 on the cached HF copy of the same model
  4. smolthink on the opt-in bf16 GGUF (`--model smollm2-135m-bf16`), for the prefill speed-up on CPUs with bf16
Each path runs REPEATS times, interleaved, from a cold KV cache; medians are reported with ratios to raw
llama.cpp. Timings on shared machines drift, so only the ratios within one run mean much.

    python bench/bench_inference.py [--repeats 3] [--new-tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from smolthink.backends import GenerationConfig, LlamaCppBackend, default_threads
from smolthink.chat.session import ChatSession
from smolthink.formats import render
from smolthink.models import embedded_derived_gguf, embedded_f16_gguf, embedded_hf_dir

# About 200 tokens once rendered with the system prompt: a realistic "question with some context" turn.
QUESTION = (
    "Here are my notes from the trip. We took the 08:15 ferry to Tern Island, which takes 40 minutes, walked to the "
    "lighthouse (31 metres tall, first lit in 1872), had cinnamon buns at the harbour bakery because it was Sunday, "
    "and took the 17:45 ferry back. Tickets were 14 euros for each adult and 7 for each child; we were two adults "
    "and three children, and the bikes travelled free. The bakery opens at 6 and closes at 2, and is closed on "
    "Mondays. How much did the ferry cost us in total, and how long were we on the island if the walk took an hour?"
)


def run_smolthink(backend: LlamaCppBackend, new_tokens: int) -> dict:
    backend.llm.reset()  # cold start, as a fresh `smolthink ask` process is
    session = ChatSession(backend, [], gen=GenerationConfig(max_new_tokens=new_tokens), max_rounds=0)
    session.ask(QUESTION)
    s = backend.stats
    return {"ttft_s": s.ttft_s, "tokens": s.completion_tokens, "decode_tok_s": s.decode_tokens_per_s, "prompt_tokens": s.prompt_tokens}


def run_raw_llama(llm, prompt: str, new_tokens: int) -> dict:
    llm.reset()
    start = time.perf_counter()
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    first = None
    n = 0
    for chunk in llm.create_completion(tokens, max_tokens=new_tokens, temperature=0.0, stream=True):
        if chunk["choices"][0]["finish_reason"]:  # the closing chunk carries no token
            continue
        n += 1
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return {"ttft_s": first, "tokens": n, "decode_tok_s": (n - 1) / (total - first), "prompt_tokens": len(tokens)}


def run_hf(model, tokenizer, prompt: str, new_tokens: int) -> dict:
    import threading

    import torch
    from transformers import TextIteratorStreamer

    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
    out = {}

    def gen():
        with torch.inference_mode():
            out["ids"] = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=streamer,
                                        temperature=None, top_p=None, top_k=None, pad_token_id=tokenizer.eos_token_id)

    start = time.perf_counter()
    thread = threading.Thread(target=gen)
    thread.start()
    first = None
    for piece in streamer:
        if first is None and piece:
            first = time.perf_counter() - start
    thread.join()
    total = time.perf_counter() - start
    n = out["ids"].shape[1] - inputs["input_ids"].shape[1]
    return {"ttft_s": first, "tokens": int(n), "decode_tok_s": (n - 1) / (total - first), "prompt_tokens": int(inputs["input_ids"].shape[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--skip-hf", action="store_true")
    args = ap.parse_args()

    from llama_cpp import Llama

    gguf = embedded_f16_gguf()
    threads = default_threads()
    ours = LlamaCppBackend(gguf, n_threads=threads)
    ours_bf16 = LlamaCppBackend(embedded_derived_gguf("bf16"), n_threads=threads)
    raw = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads, verbose=False)
    prompt = render([{"role": "user", "content": QUESTION}], add_generation_prompt=True)
    hf = None
    if not args.skip_hf:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        hf_dir = embedded_hf_dir()
        hf = (AutoModelForCausalLM.from_pretrained(hf_dir).eval(), AutoTokenizer.from_pretrained(hf_dir))

    runs: dict[str, list[dict]] = {"smolthink (llama.cpp backend)": [], "raw llama-cpp-python": [],
                                   "smolthink, bf16 GGUF (opt-in)": [], "HF generate (fp32)": []}
    run_raw_llama(raw, prompt, 8)  # warm-up: page in weights
    run_smolthink(ours, 8)
    run_smolthink(ours_bf16, 8)
    jobs = {
        "smolthink (llama.cpp backend)": lambda: run_smolthink(ours, args.new_tokens),
        "raw llama-cpp-python": lambda: run_raw_llama(raw, prompt, args.new_tokens),
        "smolthink, bf16 GGUF (opt-in)": lambda: run_smolthink(ours_bf16, args.new_tokens),
    }
    if hf:
        jobs["HF generate (fp32)"] = lambda: run_hf(*hf, prompt, args.new_tokens)
    names = list(jobs)
    for i in range(args.repeats):
        # Rotate the order: whichever path runs right after torch's busy-waiting threads is handicapped.
        for name in names[i % len(names):] + names[: i % len(names)]:
            runs[name].append(jobs[name]())
    runs = {k: v for k, v in runs.items() if v}

    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    base = "raw llama-cpp-python"
    print(f"\nmachine: {platform.processor() or platform.machine()}, {threads} threads, {platform.system()}; model: {gguf.name}")
    print(f"prompt tokens: {runs[base][0]['prompt_tokens']}, new tokens: {runs[base][0]['tokens']}, repeats: {args.repeats}\n")
    print("| path | decode tok/s | vs raw llama.cpp | TTFT (s) |")
    print("|---|---|---|---|")
    results = {}
    for name in runs:
        d, t = med(name, "decode_tok_s"), med(name, "ttft_s")
        results[name] = {"decode_tok_s": d, "ttft_s": t, "ratio": d / med(base, "decode_tok_s"), "runs": runs[name]}
        print(f"| {name} | {d:.1f} | {d / med(base, 'decode_tok_s'):.2f}x | {t:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    ours_bf16.llm.close()
    ours.llm.close()  # explicit: llama-cpp-python's finalizers fail noisily at interpreter exit
    raw.close()


if __name__ == "__main__":
    main()
