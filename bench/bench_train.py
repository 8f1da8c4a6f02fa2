"""Training benchmark: `smolthink train` vs a plain TRL SFTTrainer script, same model, same data, same steps.

    python bench/bench_train.py speed [--steps 12]   # SmolLM2-135M: tokens/s, ms/step, peak RSS, loss
    python bench/bench_train.py memory               # peak RSS: full 360M at 832 tokens, LoRA 1.7B

speed: both runs train SmolLM2-135M-Instruct (the embedded model) on the same windows of the default data
(runs/data/default, phase1: `smolthink data build recipes/data/default.yaml`), each in its own process (peak RSS
is the process's own). The plain script is what a TRL user writes: `SFTTrainer` with its defaults (fp32 on CPU,
gradient checkpointing, padding, fused LM-head loss over every position), 8 windows per step, the assistant mask
as labels; a second TRL run switches on TRL's own speed options (padding_free, no gradient checkpointing).
smolthink runs its recipe machinery with rows of 832 tokens, 4 rows per step (about the same tokens
per step). Tokens are non-padding input tokens; the first step is a warm-up and not timed. Both report their
training losses and the loss on the same 48 validation windows after training, the check that speed did not cost
learning.

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


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def windows(split: str, n: int):
    from datasets import load_from_disk

    return load_from_disk(str(DATA / "phase1"))[split].select(range(n)).select_columns(["input_ids", "assistant_masks"])


def val_loss(model, tokenizer) -> float:
    """Mean loss per assistant token on the validation windows, fp32, one window at a time (no padding)."""
    import torch

    model = model.float().eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in windows("validation", N_VAL):
            ids = torch.tensor([row["input_ids"]])
            labels = torch.tensor([[t if m else -100 for t, m in zip(row["input_ids"], row["assistant_masks"])]])
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


def run_trl(steps: int, tuned: bool = False) -> dict:
    import torch
    from trl import SFTConfig, SFTTrainer

    from smolthink.models import load_hf, resolve_model
    from smolthink.train.run import prepare_tokenizer

    model, tokenizer = load_hf(resolve_model("smollm2-135m"), dtype=torch.float32)
    tokenizer = prepare_tokenizer(tokenizer)
    data = windows("train", N_TRAIN)
    speed = {"padding_free": True, "gradient_checkpointing": False, "max_length": None} if tuned else {"max_length": 832}
    args = SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=8, max_steps=steps + 1,
                     learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to="none", bf16=False,
                     disable_tqdm=True, seed=42,
                     # "tuned": TRL's own speed options, padding-free batches and no activation recomputation
                     # (TRL requires max_length=None there; the windows are ≤ 832 tokens already)
                     **speed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    timer = StepTimer()
    trainer.add_callback(timer.callback)
    tokens = []
    collate = trainer.data_collator

    def counting(batch):
        out = collate(batch)
        tokens.append(sum(len(b["input_ids"]) for b in batch))
        return out

    trainer.data_collator = counting
    trainer.train()
    elapsed = timer.times[-1] - timer.times[0]
    return {"run": "TRL padding-free" if tuned else "plain TRL", "ms_per_step": 1000 * elapsed / steps, "tokens_per_s": sum(tokens[1:steps + 1]) / elapsed,
            "losses": timer.losses, "val_loss": val_loss(trainer.model, tokenizer), "peak_rss_gib": peak_rss_gib()}


def run_smolthink(steps: int, model: str = "smollm2-135m", method: str = "full", rows: int = 4,
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
    tokens = logged[-1]["tokens_per_s"] * logged[-1]["elapsed_s"] - logged[0]["tokens_per_s"] * logged[0]["elapsed_s"]
    result = {"run": f"smolthink train ({method})", "ms_per_step": 1000 * elapsed / steps, "tokens_per_s": tokens / elapsed,
              "losses": [m["loss"] for m in logged], "peak_rss_gib": peak_rss_gib(),
              "wall_s": time.perf_counter() - t0}
    if measure_val:
        trained, tokenizer = load_hf(resolve_model(str(out)))
        result["val_loss"] = val_loss(trained, tokenizer)
    return result


def random_model(shape: str) -> Path:
    """A random-weight SmolLM2 of the given size with the real tokenizer, as a transformers directory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from smolthink.data.build import load_tokenizer

    dims = {"360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                         num_key_value_heads=5),
            "1.7b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                         num_key_value_heads=32)}[shape]
    config = LlamaConfig(vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True, bos_token_id=1,
                         eos_token_id=2, pad_token_id=2, rms_norm_eps=1e-5, rope_theta=100000, **dims)
    out = Path(tempfile.mkdtemp()) / f"smollm2-{shape}-random"
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    load_tokenizer("smollm2-135m").save_pretrained(out)
    return out


def child(args: argparse.Namespace) -> None:
    if args.child in ("trl", "trl-tuned"):
        result = run_trl(args.steps, tuned=args.child == "trl-tuned")
    elif args.child == "smolthink":
        result = run_smolthink(args.steps)
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
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    if args.what == "speed":
        if not (DATA / "phase1").is_dir():
            sys.exit(f"{DATA} is missing: smolthink data build recipes/data/default.yaml")
        trl, tuned, smol = spawn("trl", args.steps), spawn("trl-tuned", args.steps), spawn("smolthink", args.steps)
        for r in (trl, tuned, smol):
            tail = sum(r["losses"][-4:]) / len(r["losses"][-4:])
            print(f"{r['run']:24s} {r['ms_per_step']:8.0f} ms/step {r['tokens_per_s']:7.1f} tok/s "
                  f"peak RSS {r['peak_rss_gib']:.2f} GiB  mean loss of last 4 steps {tail:.4f}  "
                  f"validation loss after {args.steps + 1} steps {r['val_loss']:.4f}")
        for base in (trl, tuned):
            print(f"vs {base['run']}: {smol['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s, "
                  f"validation loss ratio {smol['val_loss'] / base['val_loss']:.4f}")
        print(json.dumps({"trl": trl, "trl_tuned": tuned, "smolthink": smol}))
    else:
        for name in ("360m-full-adamw_torch_fused", "360m-full-adafactor", "1.7b-lora-adamw_torch_fused"):
            model = spawn("make-" + name.split("-")[0], 0)["path"]
            r = spawn(name, 2, "--model", model)
            print(f"{r['run']:32s} peak RSS {r['peak_rss_gib']:.2f} GiB, {r['ms_per_step'] / 1000:.1f} s/step "
                  f"({r['tokens_per_s']:.0f} tok/s)")


if __name__ == "__main__":
    main()
