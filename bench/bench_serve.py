"""Serving benchmark: `smolthink serve --parallel N` against the one-at-a-time server, in the same run.

Two servers run in this process (uvicorn in threads, 127.0.0.1, free ports) on the embedded model's f16 (or
bf16) GGUF:
`--parallel 1`, which decodes one request after another, and `--parallel N` (default 16), which decodes its
requests together in one llama.cpp batch (`BatchedLlamaBackend`). Clients are threads sending greedy requests,
each for a different prompt, over loopback. Reported: throughput (generated tokens / wall time), its ratio to
the one-at-a-time server, latency percentiles, and how many replies are byte-identical to the same request run
alone (batched kernels may round differently and flip a near-tie, after which greedy text diverges).

    python bench/bench_serve.py [--requests 32] [--max-tokens 64] [--parallel 16] [--threads 2] [--dtype bf16]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import uvicorn

from smolthink.backends import BatchedLlamaBackend, default_threads
from smolthink.llama_server import free_port
from smolthink.models import embedded_derived_gguf
from smolthink.serve import create_app

TOPICS = ["the sea", "a mountain", "the city at night", "autumn", "a cat", "bread", "the moon", "trains", "rain",
          "a library", "coffee", "the desert", "snow", "a garden", "bees", "old clocks"]


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write four short lines about {TOPICS[i % len(TOPICS)]}."}]


def start(dtype: str, parallel: int, n_ctx: int, threads: int) -> tuple[uvicorn.Server, str]:
    backend = BatchedLlamaBackend(embedded_derived_gguf(dtype), n_ctx=n_ctx, parallel=parallel, n_threads=threads,
                                  thinks=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(backend, model_name="smollm2-135m"), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/v1/chat/completions"


def one_request(url: str, i: int, max_tokens: int) -> tuple[float, int, str]:
    started = time.perf_counter()
    r = httpx.post(url, json={"model": "m", "messages": prompt(i), "max_tokens": max_tokens, "temperature": 0},
                   timeout=600)
    r.raise_for_status()
    body = r.json()
    return time.perf_counter() - started, body["usage"]["completion_tokens"], body["choices"][0]["message"]["content"]


def run(url: str, clients: int, requests: int, max_tokens: int) -> tuple[float, list[tuple[float, int, str]]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda i: one_request(url, i, max_tokens), range(requests)))
    return time.perf_counter() - started, results


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--ctx-size", type=int, default=1024, help="context window per request")
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--dtype", choices=("f16", "bf16"), default="f16", help="the embedded model's GGUF")
    args = ap.parse_args()

    serial, serial_url = start(args.dtype, 1, args.ctx_size, args.threads)
    batched, batched_url = start(args.dtype, args.parallel, args.ctx_size, args.threads)
    for url in (serial_url, batched_url):
        one_request(url, 0, 8)  # warm-up
    rows = [("serve --parallel 1", 16, *run(serial_url, 16, args.requests, args.max_tokens))]
    alone = {i: text for i, (_, _, text) in enumerate(rows[0][3])}  # each request, decoded alone
    for clients in (1, 4, 16):
        rows.append((f"serve --parallel {args.parallel}", clients, *run(batched_url, clients, args.requests,
                                                                       args.max_tokens)))
    for server in (serial, batched):
        server.should_exit = True

    base = sum(n for _, n, _ in rows[0][3]) / rows[0][2]
    print(f"\n{args.dtype} GGUF, {args.requests} requests (16 prompts), max_tokens {args.max_tokens}, greedy, no_think; "
          f"{args.threads} threads, {args.ctx_size}-token window per request\n")
    print("| server | clients | tokens/s | vs --parallel 1 | p50 (s) | p90 (s) | p99 (s) | same text as alone |")
    print("|---|---|---|---|---|---|---|---|")
    for name, clients, wall, results in rows:
        latencies = [t for t, _, _ in results]
        tps = sum(n for _, n, _ in results) / wall
        same = sum(text == alone[i] for i, (_, _, text) in enumerate(results))
        print(f"| {name} | {clients} | {tps:.1f} | {tps / base:.2f}x | {statistics.median(latencies):.2f} | "
              f"{percentile(latencies, 0.9):.2f} | {percentile(latencies, 0.99):.2f} | {same}/{len(results)} |")


if __name__ == "__main__":
    main()
