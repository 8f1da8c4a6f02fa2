"""Training recipes: one YAML file → a `TrainRecipe` whose phases are TRL `SFTConfig`s.

A recipe names the model, the data, the method (full or LoRA) and a list of phases. Every phase is a `PhaseConfig`,
a dataclass that extends TRL's `SFTConfig`, so any TRL/transformers training option works in a recipe. Values are
resolved as smolthink defaults < the recipe's `defaults:` < the phase's own keys < `--set` overrides, and the
resolved recipe is saved in the run directory.

    name: smolthink-135m
    model: smollm2-135m
    data: recipes/data/default.yaml       # a data recipe (built on first use) or a built data directory
    method: full                          # or lora (see `lora:`)
    defaults: {learning_rate: 2.0e-4, per_device_train_batch_size: 4}
    phases:
      - {name: phase1, max_steps: 300}
      - {name: phase2, max_steps: 50, learning_rate: 5.0e-5}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from trl import SFTConfig

from smolthink.config import ConfigError, apply_overrides, beside_recipe, load_dataclass, read_yaml

# Keys smolthink sets itself (precision, data handling, logging); a recipe that sets them would be ignored or break
# the training loop, so they are refused with the reason.
MANAGED = {
    "output_dir": "set by `smolthink train --out` (each phase gets <out>/<phase>)",
    "bf16": "use the recipe's top-level `precision:` (auto | bf16 | fp16 | fp32)",
    "fp16": "use the recipe's top-level `precision:` (auto | bf16 | fp16 | fp32)",
    "packing": "smolthink always packs rows up to `max_length` without cross-example attention",
    "padding_free": "smolthink always packs rows up to `max_length` without cross-example attention",
    "dataset_kwargs": "the data comes tokenized from `smolthink data build`",
    "assistant_only_loss": "the loss is always on assistant tokens (the data's assistant_masks)",
    "remove_unused_columns": "smolthink selects the columns itself",
    "disable_tqdm": "smolthink shows its own progress bar",
    "resume_from_checkpoint": "use `smolthink train --resume`",
    "trust_remote_code": "it is a top-level recipe key (`trust_remote_code: true`, or `smolthink train "
                         "--trust-remote-code`): smolthink loads the model, not TRL",
}


# Ranges that TRL/transformers accept but train nonsense with (`max_steps: -3` trains for three epochs, a batch size
# of 0 fails deep inside the data loader): key -> (test, what the value must be). Checked in every resolved phase;
# None (where a key allows it) means unset and is not checked.
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_steps": (lambda v: v == -1 or v >= 1, ">= 1 (or -1: train for num_train_epochs instead)"),
    "num_train_epochs": (lambda v: v > 0, "> 0"),
    "learning_rate": (lambda v: v > 0, "> 0"),
    "per_device_train_batch_size": (lambda v: v >= 1, ">= 1"),
    "per_device_eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "warmup_steps": (lambda v: 0 <= v < 1 or v == int(v) >= 1, "a fraction of the steps in [0, 1) or a whole number of steps"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "max_grad_norm": (lambda v: v >= 0, ">= 0 (0: no clipping)"),
    "adam_beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "adam_beta2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "adam_epsilon": (lambda v: v > 0, "> 0"),
    "label_smoothing_factor": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "logging_steps": (lambda v: v > 0, "> 0"),
    "save_steps": (lambda v: v > 0, "> 0"),
    "eval_steps": (lambda v: v > 0, "> 0"),
    "save_total_limit": (lambda v: v >= 1, ">= 1"),
    "max_length": (lambda v: v >= 1, ">= 1"),
    "dataloader_num_workers": (lambda v: v >= 0, ">= 0"),
}
LORA_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "r": (lambda v: v >= 1, ">= 1"),
    "alpha": (lambda v: v > 0, "> 0"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


@dataclass
class PhaseConfig(SFTConfig):
    """One training phase: TRL's SFTConfig plus the phase's name and the data phase it trains on.

    `max_length` is the packed row length in tokens (several windows share a row without seeing each other); it must
    be at least the data phase's window. `per_device_train_batch_size` counts rows.
    """

    name: str = "phase1"
    data_phase: str | None = None  # the phase of the built data (its window/stride); defaults to `name`


# smolthink's defaults for every phase, under the recipe's `defaults:` and the phase's keys.
PHASE_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 4,
    "learning_rate": 1e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.05,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "max_length": None,  # None: the data phase's window
    "gradient_checkpointing": False,  # a 135M model fits; recomputing the forward costs a third more time
    "logging_steps": 5,
    "save_strategy": "steps",
    "save_steps": 50,
    "save_total_limit": 2,
    "report_to": "none",
    "seed": 42,
    "dataloader_num_workers": 0,
}


@dataclass
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


@dataclass
class TrainRecipe:
    name: str
    phases: list[dict[str, Any]]
    model: str = "smollm2-135m"
    data: str = "recipes/data/default.yaml"
    method: Literal["full", "lora"] = "full"
    lora: LoraSpec = field(default_factory=LoraSpec)
    merge: bool = False  # LoRA: also write the merged full model at the end
    # auto: bf16 where the hardware has bf16 matmuls (CPU with AVX512-BF16/AMX, GPU of compute capability >= 8),
    # fp16 with loss scaling on older GPUs (T4, V100), fp32 elsewhere (see train/run.py, choose_precision)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    # a model that ships its own Python code (an auto_map in its config.json) runs it only when this is true
    trust_remote_code: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resolved:
    """A loaded recipe: the top-level settings and one PhaseConfig per phase (output_dir = <out>/<phase name>)."""

    recipe: TrainRecipe
    phases: list[PhaseConfig]
    out: Path
    source: str  # the recipe file, for messages


def load_train_recipe(path: str | Path, overrides: list[str] | None = None, out: str | Path | None = None) -> Resolved:
    """Read, override and validate a training recipe (run directory default: runs/<name>); raises ConfigError."""
    where = str(path)
    data = apply_overrides(read_yaml(path), overrides or [], where)
    if isinstance(data, dict) and "data" in data:
        data["data"] = beside_recipe(data["data"], path)
    return resolve(data, out, where)


def resolve(data: dict[str, Any], out: str | Path | None, where: str) -> Resolved:
    recipe = load_dataclass(TrainRecipe, data, where)
    out = Path(out) if out is not None else Path("runs") / recipe.name
    if not recipe.phases:
        raise ConfigError(f"{where}: `phases` is empty; a recipe needs at least one phase")
    _check_ranges(recipe.lora, LORA_RANGES, lambda key: f"{where}: lora.{key}")
    _check_keys(recipe.defaults, f"{where}: defaults")
    phases, names = [], set()
    for i, raw in enumerate(recipe.phases):
        at = f"{where}: phases[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at}: expected a mapping of SFTConfig keys, got {type(raw).__name__}")
        _check_keys(raw, at)
        merged = {**PHASE_DEFAULTS, **recipe.defaults, **raw}
        merged.setdefault("name", f"phase{i + 1}")
        merged["output_dir"] = str(Path(out) / merged["name"])
        # smolthink runs its own mixed precision (bf16 compute, fp32 master weights); TRL's autocast stays off.
        merged.update(bf16=False, fp16=False, disable_tqdm=True, remove_unused_columns=False)
        merged["dataset_kwargs"] = {"skip_prepare_dataset": True}
        merged["trust_remote_code"] = recipe.trust_remote_code  # (what smolthink's own loading honours)
        phase = _build_phase(merged, at)
        # An out-of-range value is reported where the recipe sets it: the phase's own key, else `defaults:`.
        _check_ranges(phase, RANGES, lambda key: f"{at}.{key}" if key in raw or key not in recipe.defaults
                      else f"{where}: defaults.{key} (in phases[{i}])")
        if phase.name in names:
            raise ConfigError(f"{at}: phase name {phase.name!r} is used twice")
        names.add(phase.name)
        phases.append(phase)
    return Resolved(recipe, phases, out, where)


def _check_keys(mapping: dict[str, Any], where: str) -> None:
    for key in mapping:
        if key in MANAGED:
            raise ConfigError(f"{where}: {key!r} cannot be set in a recipe: {MANAGED[key]}")


def _check_ranges(config: Any, ranges: dict[str, tuple[Callable[[Any], bool], str]], name: Callable[[str], str]) -> None:
    for key, (valid, need) in ranges.items():
        value = getattr(config, key)
        if value is not None and not valid(value):
            raise ConfigError(f"{name(key)}: must be {need}, got {value!r}")


def _build_phase(merged: dict[str, Any], where: str) -> PhaseConfig:
    if merged.get("ddp_backend") == "nccl":
        import torch

        if not torch.cuda.is_available():  # TrainingArguments would fail setting up its devices, naming no key
            raise ConfigError(f"{where}: ddp_backend 'nccl' needs CUDA GPUs; this machine has none. Remove "
                              "`ddp_backend` from the recipe (CPU processes talk gloo)")
    try:
        return load_dataclass(PhaseConfig, merged, where)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:  # SFTConfig's own validation (__post_init__)
        raise ConfigError(f"{where}: {e}") from None


def phase_dict(phase: PhaseConfig) -> dict[str, Any]:
    """A phase as plain JSON-able data (enums as their values), for the saved resolved recipe."""
    return {k: v for k, v in phase.to_dict().items() if not k.startswith("_")}


def recipe_dict(resolved: Resolved) -> dict[str, Any]:
    top = dataclasses.asdict(resolved.recipe)
    top["phases"] = [phase_dict(p) for p in resolved.phases]
    return top
