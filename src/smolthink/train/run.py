"""`smolthink train RECIPE.yaml`: run a recipe's phases in order and leave a model directory behind.

    runs/<name>/
      train_config.json      the resolved recipe (every SFTConfig value of every phase)
      metrics.jsonl          one line per logged step: phase, step, loss, learning rate, grad norm, tokens/s
      loss_curve.png
      <phase>/checkpoint-N/  Trainer checkpoints (+ fp32 master weights), complete ones carry a marker
      <phase>/final/         the phase's weights; the next phase starts from them
      config.json, model.safetensors, tokenizer…   the final model (or adapter_config.json + adapter for LoRA),
                                                    so `smolthink chat --model runs/<name>` works

Everything that can be wrong with the recipe, the model or the data is checked before the first step.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from smolthink.atomic import copy_atomic
from smolthink.config import ConfigError, to_dict
from smolthink.train import dist
from smolthink.train.config import PhaseConfig, Resolved, load_train_recipe, recipe_dict

DONE_FILE = "smolthink_done.json"


class Interrupted(RuntimeError):
    """Ctrl-C: a checkpoint was saved; the message holds the command that resumes."""


@dataclass
class DataSource:
    folder: Path
    manifest: dict[str, Any]
    max_token_id: int = -1  # the largest token id in the phases' windows (set by check_data)


# ------------------------------------------------------------------------------------------------- checks


def sharding(phase: PhaseConfig) -> str | None:
    """'fsdp' or 'deepspeed' when the launch (accelerate config) or the recipe shards the model, else None (DDP or
    one process)."""
    if phase.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return "deepspeed"
    if phase.fsdp or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "fsdp"
    return None


def choose_precision(choice: str) -> str:
    """'bf16', 'fp16' or 'fp32' for this machine (check_machine has refused what it cannot run).

    auto: bf16 where the hardware runs bf16 matmuls natively (and so faster): a CPU with AVX512-BF16/AMX, a GPU of
    compute capability 8 or more; fp16 with loss scaling on older GPUs (T4, V100: fp16 tensor cores, no bf16).
    """
    import torch

    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.get_device_capability() >= (8, 0) else "fp16"
    if torch.backends.mps.is_available():
        return "fp32"  # bf16 matmuls on MPS are not reliably faster than fp32
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def _gpu_name() -> str:
    import torch

    major, minor = torch.cuda.get_device_capability()
    return f"{torch.cuda.get_device_name()} (compute capability {major}.{minor})"


def check_machine(resolved: Resolved) -> None:
    """Options this machine or this launch cannot honour, refused by name before any data or model is loaded.

    Every rank runs the same checks on the same recipe, so they all stop together with the same message.
    """
    import importlib.util

    import torch

    cuda = torch.cuda.is_available()
    where = resolved.source
    precision = resolved.recipe.precision
    if precision == "fp16" and not cuda:
        raise ConfigError(f"{where}: precision fp16 (autocast with loss scaling) needs a CUDA GPU; this machine has "
                          "none. Use precision: auto (bf16 where the CPU has it) or fp32")
    if precision == "bf16" and cuda and torch.cuda.get_device_capability() < (8, 0):
        raise ConfigError(f"{where}: precision bf16 needs a GPU with bf16 matmuls (compute capability 8.0 or more); "
                          f"this one is {_gpu_name()}. Use precision: auto (fp16 with loss scaling here) or fp32")
    for i, phase in enumerate(resolved.phases):
        at = f"{where}: phases[{i}] ({phase.name})"
        optim = str(getattr(phase.optim, "value", phase.optim))
        if "8bit" in optim or "bnb" in optim or "paged" in optim:
            if not cuda:
                raise ConfigError(f"{at}: optim {optim!r} runs through bitsandbytes on a CUDA GPU; this machine "
                                  "has none. Use optim: adamw_torch_fused (or adafactor, which also saves memory)")
            if importlib.util.find_spec("bitsandbytes") is None:
                raise ConfigError(f"{at}: optim {optim!r} needs bitsandbytes: pip install 'smolthink[gpu]'")
        # (tf32 and ddp_backend nccl without CUDA are refused as the recipe loads: train/config.py, _build_phase)
        if dist.world_size() == 1:
            continue
        # a batch is one padding-free row (PackedCollator): it cannot be split or sent between ranks as a tensor
        for key in ("split_batches", "dispatch_batches"):
            if getattr(phase.accelerator_config, key, None):
                raise ConfigError(f"{at}: accelerator_config.{key} cannot be honoured with {dist.world_size()} "
                                  "processes: every batch is one padding-free packed row, which cannot be cut or "
                                  "concatenated across ranks. Remove it; each rank reads its own rows")
        if phase.auto_find_batch_size:
            raise ConfigError(f"{at}: auto_find_batch_size cannot be honoured with {dist.world_size()} processes: "
                              "each rank would shrink its batch on its own and the ranks would wait on each other "
                              "for ever. Set per_device_train_batch_size")
        if sharding(phase) and not cuda:
            raise ConfigError(f"{at}: {sharding(phase)} with {dist.world_size()} CPU processes cannot be honoured: "
                              "accelerate shards models only on accelerators (on CPU it would silently train "
                              "plain DDP). Drop the FSDP/DeepSpeed settings: multi-process CPU training is DDP")


def resolve_data(spec: str, console: Console) -> DataSource:
    """A built data directory, or a data recipe YAML (built into runs/data/<name> on first use)."""
    from smolthink.data.build import BuildError, build, code_fingerprint, load_manifest
    from smolthink.data.recipe import load_recipe

    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        recipe = load_recipe(path)
        folder = Path("runs/data") / recipe.name
        if not (folder / "manifest.json").is_file():
            console.print(f"[bold]building the data[/] {path} → {folder}")
            build(recipe, folder, console=console)
        else:
            # runs/data/<name> is this command's own cache of the recipe: a stale build is rebuilt, not trained on
            try:
                built = load_manifest(folder)
            except BuildError:
                built = {}
            if not built:
                stale = f"{folder / 'manifest.json'} is unreadable"
            elif built.get("recipe") != json.loads(json.dumps(to_dict(recipe))):
                stale = f"{path} changed"
            elif built.get("code") != code_fingerprint():
                stale = "smolthink's data code changed"
            else:
                return DataSource(folder, built)
            console.print(f"[bold]rebuilding the data[/]: {stale} since {folder} was built")
            build(recipe, folder, overwrite=True, console=console)
    elif path.is_dir():
        folder = path
    else:
        raise ConfigError(f"data: {spec!r} is neither a data recipe (.yaml) nor a built data directory")
    try:
        return DataSource(folder, load_manifest(folder))
    except BuildError as e:
        raise ConfigError(f"data: {e}") from None


def check_phases(resolved: Resolved, data: DataSource) -> None:
    """Each phase names a data phase that exists and a row length that holds its longest window."""
    built = data.manifest["phases"]
    for phase in resolved.phases:
        data_phase = phase.data_phase or phase.name
        if data_phase not in built:
            raise ConfigError(
                f"{resolved.source}: phase {phase.name!r} trains on data phase {data_phase!r}, but {data.folder} has "
                f"only {', '.join(built)}; set `data_phase:` or add the phase to the data recipe"
            )
        if not built[data_phase]["train"]["windows"]:
            raise ConfigError(f"{resolved.source}: phase {phase.name!r} trains on data phase {data_phase!r}, whose "
                              f"train split in {data.folder} has no windows")
        longest = built[data_phase]["train"]["max_length"]
        if phase.max_length is None:
            phase.max_length = max(longest, built[data_phase]["window"])
        elif phase.max_length < longest:
            raise ConfigError(
                f"{resolved.source}: phase {phase.name!r} has max_length {phase.max_length}, shorter than the longest "
                f"window of data phase {data_phase!r} ({longest} tokens); raise max_length"
            )


def check_data(resolved: Resolved, data: DataSource) -> None:
    """Read every phase's windows before any model is loaded: a missing or damaged file (BuildError, naming it),
    windows that are not token ids with a 0/1 mask, or an evaluation without validation data fail here."""
    import pyarrow.compute as pc

    from smolthink.data.build import SPLITS, BuildError, load_part

    for i, phase in enumerate(resolved.phases):
        name = phase.data_phase or phase.name
        path = data.folder / name
        parts = load_part(data.folder, name, ("input_ids", "assistant_masks"))
        for split in SPLITS:
            expected = data.manifest["phases"][name][split]["windows"]
            if len(parts[split]) != expected:
                raise BuildError(f"{path}: the {split} split has {len(parts[split])} windows, but the manifest says "
                                 f"{expected}: the build is damaged; rebuild the data")
            if not expected:
                continue
            ids, masks = (parts[split].data.table.column(c) for c in ("input_ids", "assistant_masks"))
            id_range, mask_range = pc.min_max(pc.list_flatten(ids)), pc.min_max(pc.list_flatten(masks))
            if (id_range["min"].as_py() < 0 or mask_range["min"].as_py() < 0 or mask_range["max"].as_py() > 1
                    or not pc.all(pc.equal(pc.list_value_length(ids), pc.list_value_length(masks))).as_py()):
                raise BuildError(f"{path}: the {split} split holds windows that are not token ids with a 0/1 "
                                 "assistant mask of the same length: the build is damaged; rebuild the data")
            data.max_token_id = max(data.max_token_id, id_range["max"].as_py())
        strategy = getattr(phase.eval_strategy, "value", phase.eval_strategy)
        if strategy != "no" and not len(parts["validation"]):
            raise ConfigError(
                f"{resolved.source}: phases[{i}] ({phase.name}) evaluates (eval_strategy {strategy!r}), but the "
                f"validation split of {path} is empty; set eval_strategy: 'no', or rebuild the data with a "
                "`validation:` fraction that leaves it examples"
            )


def check_tokenizer(model_tokenizer: Any, data: DataSource) -> None:
    """The data was tokenized for one tokenizer; training another model on those ids would be silent garbage."""
    from smolthink.data.build import load_tokenizer

    data_tokenizer = load_tokenizer(data.manifest["tokenizer"])
    if data_tokenizer.get_vocab() != model_tokenizer.get_vocab():
        raise ConfigError(
            f"data: {data.folder} was tokenized with {data.manifest['tokenizer']!r}, whose vocabulary differs from "
            "the model's; rebuild the data with `tokenizer:` set to the model you train"
        )
    used = data.manifest.get("chat_template")  # builds before chat_template: model do not record it
    if isinstance(used, dict) and used.get("name") == "model":
        from smolthink.formats import template_sha256

        own = model_tokenizer.chat_template
        if not isinstance(own, str) or template_sha256(own) != used.get("sha256"):
            raise ConfigError(
                f"data: {data.folder} was rendered with the chat template of {data.manifest['tokenizer']!r} "
                "(chat_template: model), but the model's own template differs, so it would be served in another "
                "format than it was trained in; train the model whose template rendered the data, or rebuild the "
                "data with `tokenizer:` set to the model you train"
            )
    if data.max_token_id >= len(model_tokenizer):
        from smolthink.data.build import BuildError

        raise BuildError(f"{data.folder}: the windows hold token id {data.max_token_id}, beyond the tokenizer's "
                         f"{len(model_tokenizer)} tokens: the build is damaged; rebuild the data")


# ------------------------------------------------------------------------------------------ model loading


def prepare_tokenizer(tokenizer: Any) -> Any:
    """smolthink's template, and a pad token distinct from EOS (SmolLM2 ships pad == EOS == <|im_end|>).

    Padding never enters the loss (labels -100), but a distinct pad keeps every tool that masks pad tokens from
    also masking the end-of-turn token the model must learn to emit.
    """
    from smolthink.formats import chat_template, is_tool_aware

    if not is_tool_aware(tokenizer.chat_template):
        tokenizer.chat_template = chat_template()
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        vocab = tokenizer.get_vocab()
        for candidate in ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>", tokenizer.unk_token):
            if candidate in vocab and vocab[candidate] != tokenizer.eos_token_id:
                tokenizer.pad_token = candidate
                break
        else:
            raise ConfigError("the tokenizer has no token to pad with other than EOS; add a pad token to it")
    return tokenizer


def load_start(resolved: Resolved, index: int, progress: Callable[[str], None], precision: str = "fp32") -> tuple[Any, Any]:
    """The model a phase starts from: the recipe's model for the first, the previous phase's final weights after.

    Full fine-tuning loads fp32 (the master weights are made from it); LoRA in bf16 loads the frozen base straight
    in bf16, which halves the peak memory of loading a large base.
    """
    import torch

    from smolthink.models import load_hf, resolve_model

    recipe = resolved.recipe
    previous = resolved.out / resolved.phases[index - 1].name / "final" if index > 0 else None
    start = str(previous) if previous is not None and recipe.method == "full" else recipe.model
    dtype = torch.bfloat16 if recipe.method == "lora" and precision == "bf16" else torch.float32
    base_model, tokenizer = load_hf(resolve_model(start), dtype=dtype, progress=progress,
                                    trust_remote_code=recipe.trust_remote_code)
    tokenizer = prepare_tokenizer(tokenizer)
    if recipe.method == "full":
        model = base_model
    else:
        import peft

        if index == 0:
            from transformers import set_seed

            set_seed(resolved.phases[0].seed)  # the adapter's random init is part of the run's reproducibility
            lora = recipe.lora
            config = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                     target_modules=lora.target_modules, task_type="CAUSAL_LM")
            model = peft.get_peft_model(base_model, config)
        else:
            model = peft.PeftModel.from_pretrained(base_model, str(previous), is_trainable=True)
    model.train()
    return model, tokenizer


# ------------------------------------------------------------------------------------------ progress/logs


class RunLog:
    """Rich progress (step, loss, tokens/s, ETA) and metrics.jsonl, as a transformers TrainerCallback.

    Every rank runs the callback (the token count of a log line is summed over the ranks there, a collective at
    the same steps everywhere); only the main process shows the bar and writes the file.
    """

    def __init__(self, path: Path, progress: Progress, phase: str, tokens: Callable[[], int]):
        from transformers import TrainerCallback

        log = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                log.begin(state)

            def on_step_end(self, args, state, control, **kw):
                log.step(state)

            def on_log(self, args, state, control, logs=None, **kw):
                log.write(state, logs or {})

        self.callback = Callback()
        self.path, self.progress, self.phase, self.tokens = path, progress, phase, tokens
        self.task = None
        self.loss = math.nan

    def begin(self, state: Any) -> None:
        self.t0, self.tok0, self.step0 = time.perf_counter(), self.tokens(), state.global_step
        self.task = self.progress.add_task(self.phase, total=state.max_steps, completed=state.global_step,
                                           loss="…", rate="…")

    def rate(self, tokens: float | None = None) -> float:
        """Tokens per second since training began: this process's, or `tokens` (all ranks') when given."""
        elapsed = time.perf_counter() - self.t0
        tokens = self.tokens() - self.tok0 if tokens is None else tokens
        return tokens / elapsed if elapsed > 0 else 0.0

    def step(self, state: Any) -> None:
        update: dict[str, Any] = {"completed": state.global_step}
        if dist.world_size() == 1:  # with several ranks the rate (all ranks' tokens) is known at log lines only
            update["rate"] = f"{self.rate():,.0f}"
        self.progress.update(self.task, **update)

    def write(self, state: Any, logs: dict[str, Any]) -> None:
        rate = self.rate(dist.sum_over_ranks(self.tokens() - self.tok0))
        if not dist.is_main():
            return
        if "loss" in logs:
            self.loss = logs["loss"]
            self.progress.update(self.task, loss=f"{self.loss:.4f}")
        if dist.world_size() > 1:
            self.progress.update(self.task, rate=f"{rate:,.0f}")
        row = {"phase": self.phase, "step": state.global_step, **logs, "tokens_per_s": round(rate, 1),
               "elapsed_s": round(time.perf_counter() - self.t0, 2)}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def make_progress(console: Console, disable: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} tok/s"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console, disable=disable,
    )


# ------------------------------------------------------------------------------------------------- saving


def _atomic_dir(final: Path, write: Callable[[Path], None]) -> None:
    """Write a directory next to `final`, then move it into place (a reader never sees half of it)."""
    from smolthink.atomic import atomic_output

    with atomic_output(final, directory=True) as tmp:
        write(tmp)


def _write_json(path: Path, data: Any) -> None:
    from smolthink.atomic import write_atomic

    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def save_phase(model: Any, tokenizer: Any, final: Path, model_ref: str, step: int,
               state_dict: dict[str, Any] | None = None) -> None:
    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        _point_adapter_at(tmp, model_ref)
        _write_json(tmp / DONE_FILE, {"step": step})

    _atomic_dir(final, write)


def _point_adapter_at(folder: Path, model_ref: str) -> None:
    """PEFT records the base as the directory it was loaded from (a cache path); record the recipe's reference."""
    config = folder / "adapter_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = model_ref
        _write_json(config, data)


def install_final(resolved: Resolved, progress: Callable[[str], None]) -> None:
    """Make the run directory itself the model: copy the last phase's files in, config files last."""
    import torch

    last = resolved.out / resolved.phases[-1].name / "final"
    if resolved.recipe.method == "lora" and resolved.recipe.merge:
        from smolthink.models import load_hf, resolve_model

        model, tokenizer = load_hf(resolve_model(str(last)), dtype=torch.float32, progress=progress,
                                   trust_remote_code=resolved.recipe.trust_remote_code)
        merged = model.merge_and_unload()
        source = resolved.out / ".merged"
        _atomic_dir(source, lambda tmp: (merged.save_pretrained(tmp), tokenizer.save_pretrained(tmp)))
    else:
        source = last
    files = sorted((p for p in source.iterdir() if p.is_file() and p.name != DONE_FILE),
                   key=lambda p: p.name in ("config.json", "adapter_config.json"))
    for old in ("config.json", "adapter_config.json"):  # a previous final model of another method
        (resolved.out / old).unlink(missing_ok=True)
    for f in files:
        copy_atomic(f, resolved.out / f.name)
    if source.name == ".merged":
        shutil.rmtree(source)


def loss_curve(metrics: Path, out: Path) -> Path | None:
    """Training loss over the run's global steps (phases one after the other), from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points: dict[str, dict[int, float]] = {}
    for line in metrics.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "loss" in row:  # a resumed run logs some steps twice: the later value wins
            points.setdefault(row["phase"], {})[row["step"]] = row["loss"]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    offset = 0
    for phase, steps in points.items():
        xs = sorted(steps)
        ax.plot([offset + x for x in xs], [steps[x] for x in xs], label=phase)
        offset += max(xs)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (assistant tokens)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "loss_curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------- train


def train(recipe_path: str | Path, *, out: str | Path | None = None, overrides: list[str] | None = None,
          resume: bool = False, console: Console | None = None) -> Path:
    """Run a training recipe; returns the run directory (a model reference). Raises ConfigError, TrainingError.

    Under `accelerate launch` / `torchrun` every rank runs this function: the checks run everywhere (and fail
    everywhere alike), the main process builds the data while the others wait, and only the main process writes
    the run directory, the logs, the plot and the final model (see train/dist.py).
    """
    from smolthink.models import check_remote_code, resolve_model

    console = console or Console(stderr=True)
    if not dist.is_main():
        console = Console(quiet=True)  # one progress bar and one set of messages: the main process's
    dist.use_cpu_group()
    resolved = load_train_recipe(recipe_path, overrides, out)
    dist.start(resolved.phases[0].ddp_timeout)
    check_machine(resolved)
    model_ref = resolve_model(resolved.recipe.model)  # a missing model fails here, before any work
    if not resolved.recipe.trust_remote_code:
        check_remote_code(model_ref, False)  # and so does one that ships code the recipe does not trust
    out = resolved.out
    saved = out / "train_config.json"
    if out.exists() and any(out.iterdir()) and not resume:
        raise ConfigError(f"{out} already exists: pass --resume to continue that run, or choose another --out")
    # the main process builds (or rebuilds) the data; the others then find it built and read it
    data = dist.main_first(lambda: resolve_data(resolved.recipe.data, console), "to build the data")
    check_phases(resolved, data)
    check_data(resolved, data)
    config = recipe_dict(resolved)
    config["data_dir"] = str(data.folder.resolve())  # absolute: eval finds the training prompts from anywhere
    tool_style = data.manifest.get("recipe", {}).get("tool_style", "xml")
    if tool_style != "xml":  # python_tools: chat, serve and export read it (backends.trained_tool_style)
        config["tool_style"] = tool_style  # xml, the default, is left out: older runs' configs read the same
    if dist.world_size() > 1:
        # the global batch is per_device_train_batch_size x processes x gradient_accumulation_steps: a resume with
        # another number of processes would train another recipe, and is refused like one
        config["processes"] = dist.world_size()
    if resume and saved.is_file():
        before = json.loads(saved.read_text(encoding="utf-8"))
        if isinstance(before.get("data_dir"), str):  # runs saved before data_dir was absolute
            before["data_dir"] = str(Path(before["data_dir"]).resolve())
        changed = _changed_keys(before, json.loads(json.dumps(config, default=str)))
        if changed:
            raise ConfigError(f"--resume with a different recipe than {saved} ({', '.join(changed[:5])} changed); "
                              "resume with the same recipe and --set values, or train into another --out")
    dist.barrier()  # every rank has read the run directory as it was before the main process writes to it
    if dist.is_main():
        out.mkdir(parents=True, exist_ok=True)
        _write_json(saved, config)
    say = lambda msg: console.print(f"[dim]{msg}[/]")  # noqa: E731
    trained = False
    for index, phase in enumerate(resolved.phases):
        final = out / phase.name / "final"
        if (final / DONE_FILE).is_file():
            console.print(f"[dim]phase {phase.name}: already done ({final})[/]")
            continue
        run_phase(resolved, index, data, console, say, resume)
        dist.barrier()  # the next phase starts from the final weights the main process has just written
        trained = True
    if dist.is_main():
        if trained or not any((out / name).is_file() for name in ("config.json", "adapter_config.json")):
            install_final(resolved, say)  # a finished run resumed again keeps its files (and mtimes) as they are
        curve = loss_curve(out / "metrics.jsonl", out) if (out / "metrics.jsonl").is_file() else None
        console.print(f"[bold green]trained[/] {out}" + (f"  (loss curve: {curve})" if curve else ""))
    dist.barrier()  # every rank returns a finished run directory
    return out


def _changed_keys(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(isinstance(x, dict) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b)):
                keys += _changed_keys(x, y, f"{prefix}{key}[{i}].")
        elif a != b and not key.startswith(("logging_dir",)):
            keys.append(prefix + key)
    return keys


def run_phase(resolved: Resolved, index: int, data: DataSource, console: Console, say: Callable[[str], None],
              resume: bool) -> None:
    from datasets import disable_progress_bars
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from smolthink.data.build import load_part

    from smolthink.train.packing import PackedCollator, pack, restore_attention, use_packed_attention
    from smolthink.train.trainer import MasterWeights, SmolTrainer, SyncMasters, complete_checkpoints

    disable_progress_bars()  # packing maps are quick; our own bar follows
    phase: PhaseConfig = resolved.phases[index]
    phase_dir = resolved.out / phase.name
    precision = choose_precision(resolved.recipe.precision)
    sharded = sharding(phase)
    model, tokenizer = load_start(resolved, index, say, precision)
    if index == 0:
        check_tokenizer(tokenizer, data)
    columns = ["input_ids", "assistant_masks"]
    built = load_part(data.folder, phase.data_phase or phase.name, tuple(columns))
    train_rows = pack(built["train"].select_columns(columns), phase.max_length, phase.seed)
    eval_rows = None
    if getattr(phase.eval_strategy, "value", phase.eval_strategy) != "no":  # check_data saw validation windows
        eval_rows = pack(built["validation"].select_columns(columns), phase.max_length, phase.seed)
    use_packed_attention(model)
    model.to(phase.device)  # before the fp32 masters are made, so they live beside their parameters
    # The recipe's precision decides, not the launcher's `mixed_precision` (accelerate config / --mixed_precision).
    launcher_mp = phase.mixed_precision
    master = None
    if precision == "bf16" and sharded is None:
        master = MasterWeights(model)  # one process or DDP: bf16 compute over smolthink's fp32 masters
        phase.mixed_precision = "no"
    elif precision == "bf16":
        # FSDP/DeepSpeed shard the parameters across ranks; the masters above would be whole copies on every rank.
        # Their own mixed precision does the same job: fp32 sharded parameters, bf16 compute.
        phase.bf16, phase.mixed_precision = True, "bf16"
        say(f"phase {phase.name}: bf16 through {sharded}'s mixed precision (fp32 sharded parameters, bf16 compute) "
            "instead of smolthink's fp32 master weights")
    elif precision == "fp16":
        phase.fp16, phase.mixed_precision = True, "fp16"  # autocast over fp32 weights, with dynamic loss scaling
    else:
        phase.mixed_precision = "no"
    if phase.ddp_find_unused_parameters is None:
        # Trainer's default (True without gradient checkpointing) costs DDP a graph traversal per step; only a
        # Mixture-of-Experts model leaves parameters (the experts no token chose) without a gradient
        phase.ddp_find_unused_parameters = any(hasattr(model.config, k) for k in ("num_experts", "num_local_experts"))
    if launcher_mp not in ("no", phase.mixed_precision):
        say(f"phase {phase.name}: the launcher's mixed_precision {launcher_mp!r} is not used; the recipe's "
            f"precision ({resolved.recipe.precision} → {precision}) decides")
    # SFTTrainer turns a Mixture-of-Experts model's router logits on for the aux loss; the saved model keeps the
    # checkpoint's setting (transformers would otherwise compute that loss at every decoding step)
    router_logits = getattr(model.config, "output_router_logits", None)
    trainer = SmolTrainer(
        model=model, args=phase, train_dataset=train_rows, eval_dataset=eval_rows, processing_class=tokenizer,
        data_collator=PackedCollator(), master=master, phase_name=phase.name,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if master is not None:
        trainer.add_callback(SyncMasters(master))
    checkpoint = None
    if resume:
        found = complete_checkpoints(phase_dir)
        checkpoint = str(found[-1]) if found else None
    processes = dist.world_size()
    say(f"phase {phase.name}: {len(train_rows):,} packed rows of ≤ {phase.max_length} tokens from "
        f"{len(built['train']):,} windows; {precision}; "
        + (f"{processes} processes ({sharded or 'DDP'}, {phase.device.type}); " if processes > 1
           else f"device {phase.device}; ")
        + f"{phase.per_device_train_batch_size * processes * phase.gradient_accumulation_steps} rows per step"
        + (f"; resuming from {checkpoint}" if checkpoint else ""))
    progress = make_progress(console, disable=not dist.is_main())
    log = RunLog(resolved.out / "metrics.jsonl", progress, phase.name, lambda: trainer.real_tokens)
    trainer.add_callback(log.callback)
    try:
        with progress:
            trainer.train(resume_from_checkpoint=checkpoint)
    except KeyboardInterrupt:
        if processes > 1:
            # Ctrl-C reaches every rank at a different point, some inside a collective: a checkpoint now (a
            # collective under FSDP) could hang. The last complete checkpoint is where --resume continues.
            found = complete_checkpoints(phase_dir)
            raise Interrupted(
                "interrupted; " + (f"the last complete checkpoint is {found[-1]}" if found else "no checkpoint yet")
                + f"; continue with the same launch command and --resume (--out {resolved.out})"
            ) from None
        trainer._save_checkpoint(trainer.model, trial=None)
        raise Interrupted(
            f"interrupted: saved {phase_dir}/checkpoint-{trainer.state.global_step}; continue with "
            f"smolthink train {resolved.source} --out {resolved.out} --resume"
        ) from None
    if master is not None:
        master.write_fp32(model)
    restore_attention(model)
    if router_logits is not None:
        model.config.output_router_logits = router_logits
    if sharded:
        # the full weights are gathered from the shards on every rank, as accelerate does it; the main process writes
        state = trainer.accelerator.get_state_dict(trainer.model_wrapped)
        if dist.is_main():
            unwrapped = trainer.accelerator.unwrap_model(trainer.model_wrapped)
            save_phase(unwrapped, tokenizer, phase_dir / "final", resolved.recipe.model, trainer.state.global_step,
                       state_dict=state)
    elif dist.is_main():
        save_phase(model, tokenizer, phase_dir / "final", resolved.recipe.model, trainer.state.global_step)
