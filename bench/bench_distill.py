"""Distill throughput: prompts/minute of `smolthink distill` at concurrency 1, 4 and 16 vs a naive loop.

The naive baseline is what one writes first: the official `openai` client, one request after another, same prompts,
same sampling, no verification. Two teachers, both on 127.0.0.1 in this process:

- a scripted OpenAI-compatible server with a fixed latency per request (tests/distill_server.py, `--latency`): a
  stand-in for a remote API or a batching server (vLLM), where requests in flight overlap;
- `smolthink serve` on the embedded SmolLM2-135M (f16 GGUF, llama.cpp), which generates one request at a time: there
  concurrency can only hide the per-request overhead, never add throughput.

    python bench/bench_distill.py [--prompts 48] [--latency 0.2] [--serve-prompts 8] [--max-tokens 24]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from distill_server import TeacherServer  # noqa: E402
from test_serve import serving  # noqa: E402

from smolthink.distill import distill  # noqa: E402
from smolthink.distill.prompts import Prompt, prompts  # noqa: E402
from smolthink.distill.recipe import recipe_from_dict  # noqa: E402
from smolthink.distill.teacher import to_openai  # noqa: E402


def make_recipe(url: str, n: int, max_tokens: int, concurrency: int, temperature: float):
    return recipe_from_dict({
        "name": "bench", "concurrency": concurrency,
        "teacher": {"url": url, "model": "teacher", "max_tokens": max_tokens, "temperature": temperature,
                    "samples": 1, "think": True},
        "prompts": [{"name": "gym", "type": "reasoning-gym", "n": n, "seed": 900, "tasks": ["chain_sum", "gcd"]}]})


def naive(url: str, recipe, items: list[Prompt]) -> float:
    """The openai client, one request after another: prompts/minute."""
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    t = recipe.teacher
    started = time.perf_counter()
    for p in items:
        client.chat.completions.create(model=t.model, messages=to_openai(p.messages), max_tokens=t.max_tokens,
                                       temperature=t.temperature, top_p=t.top_p,
                                       extra_body={"chat_template_kwargs": {"enable_thinking": t.think}})
    return len(items) / (time.perf_counter() - started) * 60


def with_distill(url: str, n: int, max_tokens: int, concurrency: int, temperature: float) -> float:
    with tempfile.TemporaryDirectory() as out:
        summary = distill(make_recipe(url, n, max_tokens, concurrency, temperature), out)
    return summary["run"]["prompts_per_minute"]


def measure(label: str, url: str, n: int, max_tokens: int, levels: list[int], temperature: float,
            repeats: int) -> dict:
    """Best of `repeats` runs each, taken in turns (naive, c1, c4, …, naive, c1, …): this machine's other load
    drifts by tens of percent within a minute."""
    recipe = make_recipe(url, n, max_tokens, 1, temperature)
    items = [p for p in prompts(recipe.prompts[0]) if isinstance(p, Prompt)]
    naive(url, recipe, items[:1])  # warm-up: the first generation pays for allocations
    rates: dict[str, float] = {}
    for _ in range(repeats):
        rates["naive"] = max(rates.get("naive", 0.0), naive(url, recipe, items))
        for c in levels:
            rates[f"c{c}"] = max(rates.get(f"c{c}", 0.0), with_distill(url, n, max_tokens, c, temperature))
    base = rates["naive"]
    row = {"teacher": label, "prompts": len(items), "max_tokens": max_tokens, "best_of": repeats,
           "naive_openai_loop": round(base, 1)}
    for c in levels:
        row[f"distill_c{c}"] = round(rates[f"c{c}"], 1)
        row[f"ratio_c{c}"] = round(rates[f"c{c}"] / base, 2)
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds per request at the scripted server")
    ap.add_argument("--serve-prompts", type=int, default=8, help="0 skips the smolthink serve part")
    ap.add_argument("--max-tokens", type=int, default=24)
    args = ap.parse_args()

    answers = {}
    for p in prompts(make_recipe("http://x/v1", args.prompts, 1, 1, 0.0).prompts[0]):
        if isinstance(p, Prompt):
            answers[p.messages[0]["content"]] = {"reasoning": "Add them up.",
                                                 "content": f"The answer is {p.metadata['answer']}."}
    server = TeacherServer(lambda body: answers[body["messages"][-1]["content"]], delay_s=args.latency)
    rows = []
    with serving(server.app) as url:
        rows.append(measure(f"scripted, {args.latency:g} s/request", url + "/v1", args.prompts, args.max_tokens,
                            [1, 4, 16], 0.0, repeats=1))
    if args.serve_prompts:
        from smolthink.backends import LlamaCppBackend
        from smolthink.models import embedded_f16_gguf
        from smolthink.serve import create_app

        app = create_app(LlamaCppBackend(embedded_f16_gguf()), model_name="smollm2-135m")
        with serving(app) as url:
            rows.append(measure("smolthink serve, SmolLM2-135M f16", url + "/v1", args.serve_prompts,
                                args.max_tokens, [1, 4], 0.0, repeats=2))
    print(json.dumps({"results": rows}, indent=2))


if __name__ == "__main__":
    main()
