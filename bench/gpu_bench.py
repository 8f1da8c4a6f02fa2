"""The measuring half of bench/gpu_check.sh (run it through that script): throughput and the longer full-recipe run.

    python bench/gpu_bench.py throughput --json OUT.json [--steps 10]
    python bench/gpu_bench.py full --json OUT.json --budget-s 150 [--out runs/gpu-check/full]

throughput: `smolthink train` vs plain TRL (SFTTrainer at its defaults: bf16 autocast, gradient checkpointing,
padding) on the embedded SmolLM2-135M and on random-weight SmolLM2-360M and -1.7B shapes, the same windows of a small
synthetic build, the same steps and about the same tokens per step (bench/bench_train.py's runs, each in its own
process): tokens/s, peak GPU memory (torch.cuda.max_memory_allocated), and MFU = 6 x parameters x tokens/s over the
card's dense bf16 peak (the same model-FLOPs count for both, whatever each computes).

full: recipes/smolthink-135m.yaml on the offline default data with phase1's max_steps raised to what fits in
--budget-s (a short calibration run measures the seconds per step first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_train  # noqa: E402  (bench/ is not a package)

# Dense bf16 tensor-core peaks (fp16 for cards without bf16), FLOP/s, from the vendors' data sheets.
PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L40": 181e12, "L4": 121e12, "A10": 125e12,
        "4090": 165e12, "3090": 71e12, "A6000": 155e12, "T4": 65e12, "V100": 125e12}


def peak_flops() -> tuple[str, float | None]:
    import torch

    name = torch.cuda.get_device_name()
    for key, flops in PEAK.items():
        if key in name:
            return name, flops
    return name, None


def small_data(out: Path) -> Path:
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    build(recipe_from_dict({
        "name": "gpu-bench", "seed": 0, "validation": 0.1, "tokenizer": "smollm2-135m",
        "sources": [{"name": "r", "type": "synthetic-reasoning", "n": 600, "seed": 1000},
                    {"name": "t", "type": "synthetic-tools", "n": 300, "seed": 2000}],
        "phases": [{"name": "phase1", "window": 832, "stride": 208}]}), out)
    return out


def child(kind: str, model: str, data: Path, steps: int, batch: int) -> dict:
    import torch

    torch.cuda.reset_peak_memory_stats()
    if kind == "trl":
        result = bench_train.run_trl(steps, data, batch, model, measure_val=False)
    else:
        result = bench_train.run_smolthink(steps, model=model, data=data, measure_val=False)
    result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def spawn(*args: str, timeout: float) -> dict:
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-2000:]}
    return json.loads(lines[-1][len("RESULT "):])


def throughput(steps: int, per_run_s: float) -> dict:
    import torch

    work = Path(tempfile.mkdtemp())
    data = small_data(work / "data")
    data, batch = bench_train.same_windows(data, bench_train.N_TRAIN, work / "same")
    name, peak = peak_flops()
    models = {"SmolLM2-135M": ("135m", "smollm2-135m"),
              "SmolLM2-360M shape (random)": ("360m", str(bench_train.random_model("360m"))),
              "SmolLM2-1.7B shape (random)": ("1.7b", str(bench_train.random_model("1.7b")))}
    rows = []
    for label, (shape, ref) in models.items():
        params = _parameters(bench_train.llama_config(shape))
        for kind in ("trl", "smolthink"):
            r = spawn(kind, ref, str(data), str(steps), str(batch), timeout=per_run_s)
            r.update(model=label, runner="plain TRL (defaults)" if kind == "trl" else "smolthink train",
                     parameters=params)
            if "tokens_per_s" in r and peak:
                r["mfu"] = 6 * params * r["tokens_per_s"] / peak
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "losses"}), flush=True)
    return {"gpu": name, "peak_bf16_flops": peak, "torch": torch.__version__, "steps": steps,
            "trl_windows_per_step": batch, "rows": rows}


def _parameters(config) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def full(budget_s: float, out: Path) -> dict:
    """The full recipe on the 135M model, phase1 as long as fits in budget_s (after a calibration run)."""
    import io

    from rich.console import Console

    from smolthink.train.run import train

    recipe = Path("recipes/smolthink-135m.yaml")
    t0 = time.perf_counter()
    calibration = Path(tempfile.mkdtemp()) / "calibration"
    train(recipe, out=calibration, console=Console(file=io.StringIO()),
          overrides=["phases.0.max_steps=12", "phases.1.max_steps=1", "defaults.save_strategy=no"])
    data_and_calibration_s = time.perf_counter() - t0
    logged = [json.loads(line) for line in (calibration / "metrics.jsonl").read_text().splitlines()]
    first = [m for m in logged if m["phase"] == "phase1" and "loss" in m]
    per_step = (first[-1]["elapsed_s"] - first[0]["elapsed_s"]) / max(1, first[-1]["step"] - first[0]["step"])
    steps = max(12, int(0.8 * budget_s / per_step))
    t1 = time.perf_counter()
    train(recipe, out=out, console=Console(file=io.StringIO()),
          overrides=[f"phases.0.max_steps={steps}", f"phases.0.save_steps={max(20, steps // 4)}"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [(r["phase"], r["step"], r["loss"]) for r in rows if "loss" in r]
    return {"recipe": str(recipe), "phase1_steps": steps, "seconds_per_step_calibrated": per_step,
            "data_and_calibration_s": data_and_calibration_s, "train_s": time.perf_counter() - t1,
            "first_loss": losses[0], "last_loss": losses[-1],
            "tokens_per_s": [r["tokens_per_s"] for r in rows if r["phase"] == "phase1"][-1], "run": str(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["throughput", "full"])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--per-run-s", type=float, default=60)
    parser.add_argument("--budget-s", type=float, default=150)
    parser.add_argument("--out", default="runs/gpu-check/full")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model, data, steps, batch = args.child
        print("RESULT " + json.dumps(child(kind, model, Path(data), int(steps), int(batch))))
        return
    result = throughput(args.steps, args.per_run_s) if args.what == "throughput" else full(args.budget_s, Path(args.out))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
