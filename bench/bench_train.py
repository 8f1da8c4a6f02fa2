"""Training benchmark: `smolthink train` vs plain TRL, in one run: same model, same windows, same steps, same tokens.

    python bench/bench_train.py speed [--steps 12]   # SmolLM2-135M: tokens/s, ms/step, peak RSS, validation loss
    python bench/bench_train.py memory               # peak RSS: full 360M at 832 tokens, LoRA 1.7B

speed: three runs, each in its own process (peak RSS is the process's own), one after the other in this command,
train SmolLM2-135M-Instruct (the embedded model) on the same first 400 training windows of the default data
(runs/data/default, phase1: `smolthink data build recipes/data/default.yaml`), copied into a build of their own so
smolthink reads exactly the windows TRL reads, and all three learn the same objective (assistant tokens only):

* plain TRL: `SFTTrainer` at its defaults (bf16 autocast where TRL's default `bf16=True` runs, gradient
  checkpointing, padded batches, TRL 1.16's fused chunked LM-head loss); the windows' assistant masks become its labels;
* TRL at its best CPU configuration: `padding_free`, no gradient checkpointing, bf16 autocast where the CPU has
  bf16 matmuls (else fp32), the same fused loss (TRL 1.16 always uses it; `loss_type: nll`; Liger needs a GPU);
* smolthink: its recipe machinery, 4 packed rows of up to 832 tokens per step.

TRL's windows per step are set so that a step holds the tokens of smolthink's 4 packed rows (windows per packed row
of these windows x 4): same steps, about the same tokens; the tokens each run trained on are printed next to its
validation loss (48 validation windows, fp32, one at a time), the check that speed did not cost learning. Tokens are
non-padding input tokens; the first step is a warm-up and not timed.

memory: random-weight models with the real SmolLM2-360M and -1.7B shapes (the Hub is unreachable here), two
optimizer steps of rows of 832 tokens, peak RSS of the training process (full 360M with AdamW and with Adafactor,
whose factored statistics take a fraction of AdamW's two fp32 moments).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DATA = Path("runs/data/default")
N_TRAIN, N_VAL = 400, 48
ROWS, ROW_TOKENS = 4, 832  # smolthink's packed rows per step and their length


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def windows(split: str, n: int | None = None, data: Path = DATA):
    from datasets import load_from_disk

    part = load_from_disk(str(data / "phase1"))[split]
    return part.select(range(min(n, len(part)) if n else len(part))).select_columns(["input_ids", "assistant_masks"])


def same_windows(data: Path, n_train: int, out: Path) -> tuple[Path, int]:
    """A build of the first `n_train` training and N_VAL validation windows (what every run reads), and the windows
    per TRL step that hold the tokens of smolthink's ROWS packed rows."""
    from datasets import DatasetDict

    from smolthink.data.build import load_manifest
    from smolthink.train.packing import pack

    manifest = load_manifest(data)
    parts = DatasetDict(train=windows("train", n_train, data), validation=windows("validation", N_VAL, data))
    parts.save_to_disk(str(out / "phase1"))
    phase = dict(manifest["phases"]["phase1"])
    for split in ("train", "validation"):
        lengths = [len(ids) for ids in parts[split]["input_ids"]]
        phase[split] = {**phase[split], "windows": len(lengths), "max_length": max(lengths, default=0)}
    (out / "manifest.json").write_text(json.dumps({**manifest, "phases": {"phase1": phase}}))
    rows = len(pack(parts["train"], max(ROW_TOKENS, phase["train"]["max_length"]), 42))
    return out, max(1, round(ROWS * len(parts["train"]) / rows))


def val_loss(model, tokenizer, data: Path) -> float:
    """Mean loss per assistant token on the validation windows, fp32, one window at a time (no padding)."""
    import torch

    model = model.float().eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in windows("validation", N_VAL, data):
            ids = torch.tensor([row["input_ids"]], device=model.device)
            labels = torch.tensor([[t if m else -100 for t, m in zip(row["input_ids"], row["assistant_masks"])]],
                                  device=model.device)
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
            target = labels[0, 1:]
            total += torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="sum").item()
            count += int((target != -100).sum())
    return total / count


class StepTimer:
    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                timer.times.append(time.perf_counter())

            def on_log(self, args, state, control, logs=None, **kw):
                if logs and "loss" in logs:
                    timer.losses.append(logs["loss"])

        self.callback, self.times, self.losses = CB(), [], []


def run_trl(steps: int, data: Path, batch: int, model_ref: str, tuned: bool = False, measure_val: bool = True) -> dict:
    import torch
    from trl import SFTConfig, SFTTrainer

    from smolthink.models import load_hf, resolve_model
    from smolthink.train.run import prepare_tokenizer

    model, tokenizer = load_hf(resolve_model(model_ref), dtype=torch.float32)
    tokenizer = prepare_tokenizer(tokenizer)
    train_windows = windows("train", None, data)
    cuda = torch.cuda.is_available()
    if tuned:
        # TRL's own speed options: padding-free batches (TRL requires max_length=None there; the windows fit),
        # no activation recomputation, bf16 autocast only where the hardware has bf16 matmuls
        bf16 = torch.cuda.is_bf16_supported() if cuda else torch.ops.mkldnn._is_mkldnn_bf16_supported()
        options = {"padding_free": True, "gradient_checkpointing": False, "max_length": None, "bf16": bf16,
                   "loss_type": "nll"}
    else:
        options = {}  # TRL's defaults: bf16=True, gradient_checkpointing=True, padding, max_length 1024
    args = SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, max_steps=steps + 1,
                     learning_rate=2e-4, lr_scheduler_type="linear", logging_steps=1, save_strategy="no",
                     report_to="none", disable_tqdm=True, seed=42, use_cpu=not cuda, **options)
    # pre-tokenized windows: TRL folds their assistant_masks into the labels (smolthink's objective: assistant tokens)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_windows, processing_class=tokenizer)
    timer = StepTimer()
    trainer.add_callback(timer.callback)
    tokens = []
    collate = trainer.data_collator

    def counting(batch_rows):
        out = collate(batch_rows)
        tokens.append(sum(len(b["input_ids"]) for b in batch_rows))
        return out

    trainer.data_collator = counting
    trainer.train()
    elapsed = timer.times[-1] - timer.times[0]
    return {"run": "TRL, best CPU options" if tuned else "TRL defaults", "ms_per_step": 1000 * elapsed / steps,
            "tokens_per_s": sum(tokens[1:steps + 1]) / elapsed, "tokens_trained": sum(tokens[:steps + 1]),
            "windows_per_step": batch, "options": options, "losses": timer.losses, "peak_rss_gib": peak_rss_gib(),
            **({"val_loss": val_loss(trainer.model, tokenizer, data)} if measure_val else {})}


def run_smolthink(steps: int, model: str = "smollm2-135m", method: str = "full", rows: int = ROWS,
                  data: Path = DATA, measure_val: bool = True, optim: str = "adamw_torch_fused") -> dict:
    from io import StringIO

    from rich.console import Console

    from smolthink.models import load_hf, resolve_model
    from smolthink.train.run import train

    out = Path(tempfile.mkdtemp()) / "run"
    recipe = {"name": "bench", "model": model, "data": str(data), "method": method,
              "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
              "defaults": {"per_device_train_batch_size": rows, "gradient_accumulation_steps": 1,
                           "learning_rate": 2e-4, "lr_scheduler_type": "linear", "warmup_steps": 0,
                           "logging_steps": 1, "save_strategy": "no", "seed": 42, "optim": optim},
              "phases": [{"name": "phase1", "max_steps": steps + 1}]}
    path = out.parent / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    t0 = time.perf_counter()
    train(path, out=out, console=Console(file=StringIO()))
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in metrics if "loss" in m]
    # elapsed_s is measured from the start of training; step 1 (warm-up) is excluded
    elapsed = logged[-1]["elapsed_s"] - logged[0]["elapsed_s"]
    total = logged[-1]["tokens_per_s"] * logged[-1]["elapsed_s"]
    tokens = total - logged[0]["tokens_per_s"] * logged[0]["elapsed_s"]
    result = {"run": f"smolthink train ({method})", "ms_per_step": 1000 * elapsed / steps, "tokens_per_s": tokens / elapsed,
              "tokens_trained": round(total), "losses": [m["loss"] for m in logged], "peak_rss_gib": peak_rss_gib(),
              "wall_s": time.perf_counter() - t0}
    if measure_val:
        trained, tokenizer = load_hf(resolve_model(str(out)))
        result["val_loss"] = val_loss(trained, tokenizer, data)
    return result


# SmolLM2's shapes (the 135M is the embedded model; the others train as random weights, the Hub being unreachable)
SHAPES = {"135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       num_key_value_heads=3),
          "360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                       num_key_value_heads=5),
          "1.7b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                       num_key_value_heads=32)}


def llama_config(shape: str):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True, bos_token_id=1,
                       eos_token_id=2, pad_token_id=2, rms_norm_eps=1e-5, rope_theta=100000, **SHAPES[shape])


def random_model(shape: str) -> Path:
    """A random-weight SmolLM2 of the given size with the real tokenizer, as a transformers directory."""
    import torch
    from transformers import LlamaForCausalLM

    from smolthink.data.build import load_tokenizer

    out = Path(tempfile.mkdtemp()) / f"smollm2-{shape}-random"
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config(shape)).save_pretrained(out)
    load_tokenizer("smollm2-135m").save_pretrained(out)
    return out


def child(args: argparse.Namespace) -> None:
    if args.child in ("trl", "trl-tuned"):
        result = run_trl(args.steps, Path(args.data), args.batch, args.model, tuned=args.child == "trl-tuned")
    elif args.child == "smolthink":
        result = run_smolthink(args.steps, model=args.model, data=Path(args.data))
    elif args.child.startswith("make-"):
        result = {"path": str(random_model(args.child[len("make-"):]))}
    else:
        # a separate process from the one that made the model, so building it does not count in the peak
        shape, method, optim = args.child.split("-")
        result = run_smolthink(2, model=args.model, method=method, rows=1, measure_val=False, optim=optim)
        result["run"] = f"SmolLM2-{shape} shape, {method}, {optim}"
    print("RESULT " + json.dumps(result))


def spawn(name: str, steps: int, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(steps), *extra], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["speed", "memory"], default="speed")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--windows", type=int, default=N_TRAIN, help="training windows every run draws from")
    parser.add_argument("--data", default=str(DATA), help="a built data directory with a phase1 (speed)")
    parser.add_argument("--model", default="smollm2-135m", help="the model to train (speed)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    if args.what == "speed":
        if not (Path(args.data) / "phase1").is_dir():
            sys.exit(f"{args.data} is missing: smolthink data build recipes/data/default.yaml")
        data, batch = same_windows(Path(args.data), args.windows, Path(tempfile.mkdtemp()) / "bench-data")
        common = ("--data", str(data), "--model", args.model, "--batch", str(batch))
        trl = spawn("trl", args.steps, *common)
        tuned = spawn("trl-tuned", args.steps, *common)
        smol = spawn("smolthink", args.steps, *common)
        print(f"same {args.windows} training windows; {args.steps + 1} steps each; TRL {batch} windows per step, "
              f"smolthink {ROWS} packed rows of <= {ROW_TOKENS} tokens")
        print(f"{'run':24s} {'ms/step':>8s} {'tok/s':>8s} {'peak RSS':>9s} {'tokens':>8s} {'val loss':>9s}")
        for r in (trl, tuned, smol):
            print(f"{r['run']:24s} {r['ms_per_step']:8.0f} {r['tokens_per_s']:8.1f} {r['peak_rss_gib']:7.2f} G "
                  f"{r['tokens_trained']:8,d} {r['val_loss']:9.4f}")
        for base in (trl, tuned):
            print(f"smolthink vs {base['run']}: {smol['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s, "
                  f"{smol['peak_rss_gib'] / base['peak_rss_gib']:.2f}x peak RSS, validation loss "
                  f"{smol['val_loss']:.4f} vs {base['val_loss']:.4f} after {smol['tokens_trained']:,} vs "
                  f"{base['tokens_trained']:,} tokens")
        results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps,
                   "windows": args.windows, "trl": trl, "trl_tuned": tuned, "smolthink": smol}
    else:
        results = {}
        for name in ("360m-full-adamw_torch_fused", "360m-full-adafactor", "1.7b-lora-adamw_torch_fused"):
            model = spawn("make-" + name.split("-")[0], 0)["path"]
            r = results[name] = spawn(name, 2, "--model", model)
            print(f"{r['run']:32s} peak RSS {r['peak_rss_gib']:.2f} GiB, {r['ms_per_step'] / 1000:.1f} s/step "
                  f"({r['tokens_per_s']:.0f} tok/s)")
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
