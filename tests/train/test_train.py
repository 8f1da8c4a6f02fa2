"""`smolthink train` end to end on tiny random models: phases, LoRA, resume, bad input, MoE and SmolLM3 shapes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch
from rich.console import Console

from smolthink.config import ConfigError
from smolthink.train.config import load_train_recipe
from smolthink.train.run import Interrupted, train

import yaml


def write_recipe(path: Path, model: str | Path, data: Path, **top) -> Path:
    """A fast two-phase recipe over `tiny_data` (top-level keys override)."""
    recipe = {
        "name": "t",
        "model": str(model),
        "data": str(data),
        "defaults": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 1e-3,
                     "logging_steps": 1, "save_steps": 2, "warmup_steps": 0, "seed": 3},
        "phases": [{"name": "short", "max_steps": 4}, {"name": "long", "max_steps": 2, "learning_rate": 5e-4}],
    }
    recipe.update(top)
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


RECIPES = sorted(Path(__file__).parents[2].joinpath("recipes").glob("*.yaml"))


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def losses(run: Path) -> dict[tuple[str, int], float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {(r["phase"], r["step"]): r["loss"] for r in rows if "loss" in r}


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_load(path, tmp_path):
    resolved = load_train_recipe(path, out=tmp_path)
    assert resolved.phases and all(p.max_steps > 0 for p in resolved.phases)
    assert resolved.phases[0].output_dir == str(tmp_path / resolved.phases[0].name)


def test_recipe_errors_name_the_key_and_the_fix(tmp_path, tiny_model_dir, tiny_data):
    path = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data)
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        load_train_recipe(path, ["phases.0.learning_rte=0.1"], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="did you mean 'method'"):
        load_train_recipe(path, ["methd=lora"], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="'bf16' cannot be set.*precision"):
        load_train_recipe(path, ["defaults.bf16=true"], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="not one of 'full', 'lora'"):
        load_train_recipe(path, ["method=qlora"], out=tmp_path / "o")
    # YAML 1.1 reads 1e-4 as a string: accepted as a number
    assert load_train_recipe(path, ["defaults.learning_rate=1e-4"], out=tmp_path / "o").phases[0].learning_rate == 1e-4


def test_missing_model_or_data_fails_before_any_work(tmp_path, tiny_model_dir, tiny_data):
    from smolthink.models import ModelError

    with pytest.raises(ModelError, match="no such"):
        train(write_recipe(tmp_path / "a.yaml", tmp_path / "nope", tiny_data), out=tmp_path / "a", console=quiet())
    with pytest.raises(ConfigError, match="neither a data recipe"):
        train(write_recipe(tmp_path / "b.yaml", tiny_model_dir, tmp_path / "nodata"), out=tmp_path / "b", console=quiet())
    bad_phase = write_recipe(tmp_path / "c.yaml", tiny_model_dir, tiny_data, phases=[{"name": "phase9", "max_steps": 1}])
    with pytest.raises(ConfigError, match="data phase 'phase9'.*short, long"):
        train(bad_phase, out=tmp_path / "c", console=quiet())
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_full_two_phase_run_is_a_model_reference(tmp_path, tiny_model_dir, tiny_data):
    from smolthink.models import load_hf, resolve_model

    run = train(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), out=tmp_path / "run", console=quiet())
    seen = losses(run)
    assert [k for k in seen if k[0] == "short"] == [("short", s) for s in range(1, 5)]
    assert ("long", 2) in seen and all(v == v for v in seen.values())
    assert seen[("short", 4)] < seen[("short", 1)]  # lr 1e-3 on a random model: the loss falls
    assert (run / "loss_curve.png").stat().st_size > 0
    config = json.loads((run / "train_config.json").read_text())
    assert [p["name"] for p in config["phases"]] == ["short", "long"] and config["phases"][1]["learning_rate"] == 5e-4
    model, tokenizer = load_hf(resolve_model(str(run)))
    assert tokenizer.pad_token_id != tokenizer.eos_token_id  # EOS stays learnable
    assert "<tool_call>" in tokenizer.chat_template  # smolthink's template travels with the model
    # the saved weights are the trained ones, in fp32, different from the start
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.dtype == torch.float32
    assert not torch.equal(model.model.embed_tokens.weight, base.model.embed_tokens.weight)
    ids = tokenizer("hello", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3
    with pytest.raises(ConfigError, match="already exists.*--resume"):
        train(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), out=run, console=quiet())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_interrupt_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_model_dir, tiny_data, monkeypatch, precision):
    from smolthink.train import run as run_module

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, precision=precision,
                          phases=[{"name": "short", "max_steps": 6, "save_steps": 100}])
    whole = train(recipe, out=tmp_path / "whole", console=quiet())

    original = run_module.RunLog.step

    def ctrl_c_at_step_3(self, state):
        original(self, state)
        if state.global_step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module.RunLog, "step", ctrl_c_at_step_3)
    with pytest.raises(Interrupted, match="--resume"):
        train(recipe, out=tmp_path / "cut", console=quiet())
    assert (tmp_path / "cut" / "short" / "checkpoint-3" / "smolthink_complete.json").is_file()
    monkeypatch.setattr(run_module.RunLog, "step", original)
    cut = train(recipe, out=tmp_path / "cut", resume=True, console=quiet())
    a, b = losses(whole), losses(cut)
    # step 3 finished but Ctrl-C came before its log line; every other step is logged once, before or after
    assert sorted(b) == [("short", s) for s in (1, 2, 4, 5, 6)]
    for key in b:
        assert abs(a[key] - b[key]) < 1e-5, key
    from safetensors.torch import load_file

    wa, wb = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_resume_with_another_recipe_is_refused(tmp_path, tiny_model_dir, tiny_data):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, phases=[{"name": "short", "max_steps": 1}])
    train(recipe, out=tmp_path / "run", console=quiet())
    with pytest.raises(ConfigError, match="different recipe.*learning_rate"):
        train(recipe, out=tmp_path / "run", resume=True, overrides=["defaults.learning_rate=0.5"], console=quiet())


def test_nan_loss_stops_with_the_step_and_the_batch(tmp_path, tiny_model_dir, tiny_data):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = load_file(broken / "model.safetensors")
    weights["model.norm.weight"] = torch.full_like(weights["model.norm.weight"], float("nan"))
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    from smolthink.train.trainer import TrainingError

    with pytest.raises(TrainingError, match=r"loss became nan at step 1.*nonfinite-batch-step1\.pt"):
        train(write_recipe(tmp_path / "r.yaml", broken, tiny_data), out=tmp_path / "run", console=quiet())
    saved = torch.load(tmp_path / "run" / "short" / "nonfinite-batch-step1.pt")
    assert saved["input_ids"].shape == saved["labels"].shape


def test_lora_run_saves_an_adapter_and_merges_on_request(tmp_path, tiny_model_dir, tiny_data):
    from smolthink.models import load_hf, resolve_model

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, method="lora",
                          lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    run = train(recipe, out=tmp_path / "lora", console=quiet())
    assert resolve_model(str(run)).kind == "adapter"
    config = json.loads((run / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    adapted, tokenizer = load_hf(resolve_model(str(run)))
    ids = tokenizer("a b c", return_tensors="pt").input_ids
    merged_run = train(write_recipe(tmp_path / "m.yaml", tiny_model_dir, tiny_data, method="lora", merge=True,
                                    lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}),
                       out=tmp_path / "merged", console=quiet())
    assert resolve_model(str(merged_run)).kind == "hf"
    merged, _ = load_hf(resolve_model(str(merged_run)))
    with torch.no_grad():
        assert torch.allclose(adapted(ids).logits, merged(ids).logits, atol=1e-4)


def tiny_variant(tmp_path: Path, smollm2_tokenizer, kind: str) -> Path:
    from transformers import AutoModelForCausalLM, Qwen3MoeConfig, SmolLM3Config

    common = dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    if kind == "moe":  # the shape of a small Mixture-of-Experts model such as SmallThinker (4 experts, 2 active)
        config = Qwen3MoeConfig(**common, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
                                output_router_logits=True, router_aux_loss_coef=0.01, tie_word_embeddings=True)
    else:
        config = SmolLM3Config(**common, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    out = tmp_path / kind
    model.save_pretrained(out)
    smollm2_tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("kind", ["moe", "smollm3"])
def test_other_architectures_train(tmp_path, smollm2_tokenizer, tiny_data, kind):
    from smolthink.models import load_hf, resolve_model

    model_dir = tiny_variant(tmp_path, smollm2_tokenizer, kind)
    recipe = write_recipe(tmp_path / "r.yaml", model_dir, tiny_data, phases=[{"name": "short", "max_steps": 3}])
    run = train(recipe, out=tmp_path / "run", console=quiet())
    seen = losses(run)
    assert len([k for k in seen if k[0] == "short"]) == 3 and all(v == v for v in seen.values())
    model, _ = load_hf(resolve_model(str(run)))
    assert type(model).__name__.startswith("Qwen3Moe" if kind == "moe" else "SmolLM3")


def test_cli_train_reports_recipe_errors_with_exit_code_2(tmp_path, tiny_model_dir, tiny_data):
    from typer.testing import CliRunner

    from smolthink.cli import app

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data)
    result = CliRunner().invoke(app, ["train", str(recipe), "--out", str(tmp_path / "o"), "--set", "phases.0.max_step=3"])
    assert result.exit_code == 2
    assert "did you mean 'max_steps'" in result.output
    result = CliRunner().invoke(app, ["train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "recipe file not found" in result.output


def test_data_recipe_is_built_once_and_rebuilt_when_it_changes(tmp_path, monkeypatch):
    from rich.console import Console

    from smolthink.train.run import resolve_data

    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "mini.yaml"
    text = ("name: mini\nseed: 0\nvalidation: 0.2\ntokenizer: smollm2-135m\n"
            "sources: [{name: r, type: synthetic-reasoning, n: 10, seed: 5}]\n"
            "phases: [{name: phase1, window: 256, stride: 64}]\n")
    recipe.write_text(text)
    console = Console(file=open(os.devnull, "w"))
    first = resolve_data(str(recipe), console)
    manifest = first.folder / "manifest.json"
    assert first.folder == Path("runs/data/mini") and manifest.is_file()
    built = manifest.stat().st_mtime_ns
    assert resolve_data(str(recipe), console).folder == first.folder and manifest.stat().st_mtime_ns == built
    recipe.write_text(text.replace("seed: 5", "seed: 6"))  # a changed recipe is not trained on its stale build
    again = resolve_data(str(recipe), console)
    assert again.manifest["recipe"]["sources"][0]["seed"] == 6
    rebuilt = manifest.stat().st_mtime_ns
    assert resolve_data(str(recipe), console).manifest["code"] == again.manifest["code"]
    assert manifest.stat().st_mtime_ns == rebuilt
    # so is a build made by other data code (an upgrade, an edited generator), the recipe unchanged
    monkeypatch.setattr("smolthink.data.build.code_fingerprint", lambda: "other code")
    assert resolve_data(str(recipe), console).manifest["code"] == "other code"
    for damaged in ("{ cut off", "[]"):  # and a build whose manifest is damaged
        manifest.write_text(damaged)
        assert resolve_data(str(recipe), console).manifest["code"] == "other code"


@pytest.mark.parametrize("override, message", [
    ("phases.0.max_steps=-3", r"r\.yaml: phases\[0\]\.max_steps: must be >= 1 \(or -1.*got -3"),
    ("phases.1.max_steps=0", r"phases\[1\]\.max_steps: must be >= 1"),
    ("defaults.learning_rate=-1e-4", r"defaults\.learning_rate \(in phases\[0\]\): must be > 0, got -0\.0001"),
    ("phases.0.per_device_train_batch_size=0", r"phases\[0\]\.per_device_train_batch_size: must be >= 1, got 0"),
    ("defaults.gradient_accumulation_steps=0", r"defaults\.gradient_accumulation_steps .*must be >= 1"),
    ("phases.0.num_train_epochs=0", r"phases\[0\]\.num_train_epochs: must be > 0"),
    ("phases.0.warmup_steps=1.5", r"phases\[0\]\.warmup_steps: must be a fraction .* or a whole number"),
    ("lora.r=0", r"lora\.r: must be >= 1, got 0"),
    ("lora.dropout=1.5", r"lora\.dropout: must be in \[0, 1\)"),
])
def test_out_of_range_values_name_the_phase_and_the_key(tmp_path, tiny_model_dir, tiny_data, override, message):
    path = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data)
    with pytest.raises(ConfigError, match=message):
        load_train_recipe(path, [override], out=tmp_path / "o")


def test_cli_refuses_negative_max_steps_before_any_work(tmp_path, tiny_model_dir, tiny_data):
    from typer.testing import CliRunner

    from smolthink.cli import app

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data)
    result = CliRunner().invoke(app, ["train", str(recipe), "--out", str(tmp_path / "o"), "--set", "phases.0.max_steps=-3"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "phases[0].max_steps: must be >= 1" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_a_build_with_an_empty_validation_split_trains_without_eval(tmp_path, tiny_model_dir):
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    data = tmp_path / "data"
    build(recipe_from_dict({"name": "noval", "validation": 0, "tokenizer": "smollm2-135m",
                            "sources": [{"name": "r", "type": "synthetic-reasoning", "n": 8, "seed": 1}],
                            "phases": [{"name": "short", "window": 256, "stride": 64}]}), data)
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, data, phases=[{"name": "short", "max_steps": 2}])
    run = train(recipe, out=tmp_path / "run", console=quiet())
    assert [k for k in losses(run)] == [("short", 1), ("short", 2)]
