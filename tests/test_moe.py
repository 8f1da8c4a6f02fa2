"""Mixture-of-Experts and `trust_remote_code`, end to end on tiny random models.

* A Qwen3-MoE-shaped model (2 layers, hidden 64, 4 experts, 2 active, SmolLM2's vocabulary and tokenizer) goes
  through `smolthink train` (3 steps; the router's load-balancing loss is in the logged loss and logged on its own
  as `aux_loss`), `chat`, `eval`, the server and `export --format hf` (same greedy tokens as the run); a GGUF export
  is refused naming `--format hf`.
* A model that ships its own Python code (an `auto_map` in config.json) is refused by every command unless it is
  given `--trust-remote-code` (a training recipe: `trust_remote_code: true`), and loading it then warns by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from smolthink.cli import app
from test_serve import serving

COEF = 0.05  # the tiny model's router_aux_loss_coef: large enough that its share of the loss is plain to see
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def flat(text: str) -> str:
    """`text` with rich's line wrapping undone."""
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def moe_dir(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A random Qwen3MoeForCausalLM shaped like a small MoE (SmallThinker: 4 experts, 2 active per token).

    `output_router_logits` stays at its default (False), as in real checkpoints: training turns it on itself.
    """
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    config = Qwen3MoeConfig(
        vocab_size=49152, hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=4, num_experts_per_tok=2,
        router_aux_loss_coef=COEF, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    torch.manual_seed(0)
    model = Qwen3MoeForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-moe")
    model.save_pretrained(out)
    smollm2_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def moe_data(tmp_path_factory, smollm2_tokenizer) -> Path:
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    recipe = recipe_from_dict({
        "name": "moe", "seed": 0, "validation": 0.1, "tokenizer": "smollm2-135m",
        "sources": [
            {"name": "reasoning", "type": "synthetic-reasoning", "n": 12, "seed": 11},
            {"name": "tools", "type": "synthetic-tools", "n": 8, "seed": 12},
        ],
        "phases": [{"name": "short", "window": 384, "stride": 96}],
    })
    out = tmp_path_factory.mktemp("moe-data") / "moe"
    build(recipe, out)
    return out


def write_recipe(path: Path, model: Path, data: Path, *, steps: int = 3, **defaults) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "moe", "model": str(model), "data": str(data),
        "defaults": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 1e-3,
                     "logging_steps": 1, "save_steps": 100, "warmup_steps": 0, "seed": 3, **defaults},
        "phases": [{"name": "short", "max_steps": steps}],
    }), encoding="utf-8")
    return path


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def moe_run(tmp_path_factory, moe_dir, moe_data) -> Path:
    """`smolthink train` on the tiny MoE: 3 optimizer steps of 2 micro-batches."""
    tmp = tmp_path_factory.mktemp("moe-run")
    result = invoke("train", str(write_recipe(tmp / "r.yaml", moe_dir, moe_data)), "--out", str(tmp / "run"))
    assert result.exit_code == 0, result.output
    return tmp / "run"


# ------------------------------------------------------------------------------------------------ training


def test_the_router_aux_loss_is_in_the_logged_loss(tmp_path, moe_run, moe_dir, moe_data):
    rows = [r for r in metrics(moe_run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["aux_loss"] > 0 for r in rows)  # the load-balancing loss of 4 experts, top-2: about 2 when balanced

    # The same run with the coefficient at 0 (TRL's `router_aux_loss_coef`): at step 1 both start from the same
    # weights on the same batches, so their losses differ by exactly coef × aux_loss.
    off = tmp_path / "off"
    recipe = write_recipe(tmp_path / "r.yaml", moe_dir, moe_data, steps=1, router_aux_loss_coef=0.0)
    result = invoke("train", str(recipe), "--out", str(off))
    assert result.exit_code == 0, result.output
    (first_off,) = [r for r in metrics(off) if "loss" in r]
    assert "aux_loss" not in first_off
    assert rows[0]["loss"] - first_off["loss"] == pytest.approx(COEF * rows[0]["aux_loss"], rel=1e-3, abs=1e-5)

    # Training asks for router logits; the saved model keeps the checkpoint's setting (off: no aux loss at inference).
    config = json.loads((moe_run / "config.json").read_text())
    assert config["model_type"] == "qwen3_moe" and config.get("num_local_experts", config.get("num_experts")) == 4
    assert config.get("output_router_logits") is False
    assert config["router_aux_loss_coef"] == COEF


# ----------------------------------------------------------------------------------- chat, eval, serve, export


def test_chat_one_turn_on_the_transformers_backend(moe_run):
    result = invoke("chat", "--model", str(moe_run), "-b", "transformers", "--max-new-tokens", "4", "--tools", "",
                    input="hello there\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("smolthink ›") == 1


def test_eval_one_suite(tmp_path, moe_run):
    result = invoke("eval", "--model", str(moe_run), "--suite", "compliance", "--limit", "1", "-b", "transformers",
                    "--split", "all", "--batch-size", "4", "--out", str(tmp_path / "eval"))
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "eval" / "results.json").read_text())["model"]
    assert model["backend"] == "transformers" and list(model["suites"]) == ["compliance"]
    assert model["suites"]["compliance"]["overall"]["n"] > 0 and model["generated_tokens"] > 0


def test_serve_one_request(moe_run):
    import httpx2 as httpx

    from smolthink.backends import load_backend
    from smolthink.serve import create_app

    backend = load_backend(str(moe_run), "transformers")
    with serving(create_app(backend, model_name="moe")) as url:
        reply = httpx.post(f"{url}/v1/chat/completions", timeout=60, json={
            "model": "moe", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 6, "temperature": 0})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert 0 < body["usage"]["completion_tokens"] <= 6


def greedy(model_dir: Path, prompt: str = "The capital of France is", n: int = 12) -> list[int]:
    from smolthink.models import load_hf, resolve_model

    model, tokenizer = load_hf(resolve_model(str(model_dir)), dtype=torch.float32)
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, ids.shape[1]:].tolist()


def test_export_hf_gives_the_runs_greedy_tokens_and_gguf_names_hf(tmp_path, moe_run):
    result = invoke("export", str(moe_run), "--format", "hf", "--out", str(tmp_path / "hf"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["model_type"] == "qwen3_moe"
    assert greedy(tmp_path / "hf") == greedy(moe_run)

    result = invoke("export", str(moe_run), "--format", "gguf", "--out", str(tmp_path / "moe.gguf"))
    assert result.exit_code == 2
    assert "qwen3_moe" in result.output and "--format hf" in flat(result.output)
    assert not (tmp_path / "moe.gguf").exists() and not (tmp_path / "moe.Modelfile").exists()


# ------------------------------------------------------------------------------------------ trust_remote_code

CONFIG_CODE = '''
from transformers import LlamaConfig


class TinyCustomConfig(LlamaConfig):
    model_type = "tiny_custom"
'''
MODEL_CODE = '''
from transformers import LlamaForCausalLM

from .configuration_tiny_custom import TinyCustomConfig


class TinyCustomForCausalLM(LlamaForCausalLM):
    """Llama with its own class name: the code that ran is the code this folder ships."""

    config_class = TinyCustomConfig
'''


@pytest.fixture(scope="module")
def custom_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny Llama as a model that ships its own code: config.json maps the Auto classes to Python files in it."""
    import shutil

    out = tmp_path_factory.mktemp("remote-code") / "tiny-custom"
    shutil.copytree(tiny_model_dir, out)
    (out / "configuration_tiny_custom.py").write_text(CONFIG_CODE, encoding="utf-8")
    (out / "modeling_tiny_custom.py").write_text(MODEL_CODE, encoding="utf-8")
    config = json.loads((out / "config.json").read_text())
    config.update(model_type="tiny_custom", architectures=["TinyCustomForCausalLM"], auto_map={
        "AutoConfig": "configuration_tiny_custom.TinyCustomConfig",
        "AutoModelForCausalLM": "modeling_tiny_custom.TinyCustomForCausalLM",
    })
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


def test_remote_code_is_refused_by_default_naming_the_flag(custom_dir):
    from smolthink.errors import UserError
    from smolthink.models import load_hf, resolve_model

    with pytest.raises(UserError, match=r"--trust-remote-code") as caught:
        load_hf(resolve_model(str(custom_dir)))
    assert "modeling_tiny_custom.TinyCustomForCausalLM" in str(caught.value)


@pytest.mark.parametrize("command", [
    ["ask", "hi", "--tools", ""],
    ["serve"],
    ["eval", "--suite", "compliance", "--limit", "1", "-b", "transformers"],
    ["export", "--format", "hf"],
])
def test_every_command_refuses_remote_code_without_the_flag(tmp_path, custom_dir, command):
    args = [*command, str(custom_dir)] if command[0] == "export" else [*command, "--model", str(custom_dir)]
    if command[0] in ("eval", "export"):
        args += ["--out", str(tmp_path / "out")]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "--trust-remote-code" in flat(result.output) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_with_the_flag_the_models_own_code_runs_and_a_warning_names_it(custom_dir):
    result = invoke("ask", "hi", "--model", str(custom_dir), "--tools", "", "--max-new-tokens", "2", "--json",
                    "--trust-remote-code")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["backend"] == "transformers"
    assert "warning" in result.stderr and str(custom_dir) in result.stderr.replace("\n", "")

    from smolthink.models import load_hf, resolve_model

    model, _ = load_hf(resolve_model(str(custom_dir)), trust_remote_code=True)
    assert type(model).__name__ == "TinyCustomForCausalLM"


def test_training_needs_the_recipe_key_and_the_run_keeps_the_code(tmp_path, custom_dir, moe_data):
    from smolthink.config import ConfigError
    from smolthink.train.config import load_train_recipe

    recipe = write_recipe(tmp_path / "r.yaml", custom_dir, moe_data, steps=1)
    result = invoke("train", str(recipe), "--out", str(tmp_path / "refused"))
    assert result.exit_code == 2 and "trust_remote_code: true" in flat(result.output), result.output
    # a phase cannot set it: smolthink loads the model, so it is the recipe's top-level key
    with pytest.raises(ConfigError, match="trust_remote_code.*top-level"):
        load_train_recipe(recipe, ["phases.0.trust_remote_code=true"], out=tmp_path / "o")

    result = invoke("train", str(recipe), "--out", str(tmp_path / "run"), "--trust-remote-code")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["trust_remote_code"] is True
    assert (tmp_path / "run" / "modeling_tiny_custom.py").is_file()  # the run is a model that ships the code too
    result = invoke("ask", "hi", "--model", str(tmp_path / "run"), "--tools", "")
    assert result.exit_code == 2 and "--trust-remote-code" in flat(result.output)
