"""Builds, exports and training under hostile data and careless paths: nothing that is not ours is deleted, every
build that reports success reads back, killed runs' temporaries are cleaned, and damaged data is one clear error
naming the file, before any model is loaded, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.config import ConfigError
from smolthink.data.build import BuildError, build, load_conversations, load_manifest
from smolthink.data.recipe import recipe_from_dict
from cli_checks import assert_clear_error

runner = CliRunner()


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(n: int = 12) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} plus {2 * i + 1}, added up carefully?"},
                          {"role": "assistant", "reasoning": f"{i} + {2 * i + 1} = {3 * i + 1}.", "content": f"{3 * i + 1}"}]}
            for i in range(n)]


def write_jsonl(path: Path, items: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in items), encoding="utf-8")
    return path


def write_recipe(path: Path, source: Path, **extra) -> Path:
    data = {"name": "hostile", "seed": 0, "validation": 0.25, "tokenizer": "smollm2-135m",
            "sources": [{"name": "local", "type": "local", "path": str(source)}],
            "phases": [{"name": "p1", "window": 128, "stride": 32}], **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def recipe(source: Path, **extra):
    return recipe_from_dict({"name": "hostile", "seed": 0, "validation": 0.25, "tokenizer": "smollm2-135m",
                             "sources": [{"name": "local", "type": "local", "path": str(source)}],
                             "phases": [{"name": "p1", "window": 128, "stride": 32}], **extra})


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small good build (12 conversations, phase p1); copy it before damaging it."""
    folder = tmp_path_factory.mktemp("hostile")
    out = folder / "built"
    build(recipe(write_jsonl(folder / "chats.jsonl", rows())), out)
    return out


def damaged_copy(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(built, copy)
    return copy


# --------------------------------------------------------------------------------- build: nothing not ours lost


def test_out_that_holds_the_local_source_is_refused_and_the_source_kept(tmp_path):
    source = write_jsonl(tmp_path / "inputs" / "chats.jsonl", rows())
    recipe_file = write_recipe(tmp_path / "r.yaml", source)
    before = snapshot(tmp_path / "inputs")
    for out in (tmp_path / "inputs", tmp_path, source):
        assert_clear_error(invoke("data", "build", recipe_file, "--out", out, "--overwrite"), "an input of this build")
    assert snapshot(tmp_path / "inputs") == before and recipe_file.is_file()


def test_out_that_holds_the_recipe_file_is_refused(tmp_path):
    source = write_jsonl(tmp_path / "data" / "chats.jsonl", rows())
    recipe_file = write_recipe(tmp_path / "recipes" / "r.yaml", source)
    assert_clear_error(invoke("data", "build", recipe_file, "--out", tmp_path / "recipes", "--overwrite"), "r.yaml")
    assert recipe_file.is_file()


def test_overwrite_refuses_what_is_not_a_previous_build(tmp_path):
    source = write_jsonl(tmp_path / "chats.jsonl", rows())
    recipe_file = write_recipe(tmp_path / "r.yaml", source)
    precious = tmp_path / "precious"
    write_jsonl(precious / "notes.jsonl", ["keep me"])
    assert_clear_error(invoke("data", "build", recipe_file, "--out", precious, "--overwrite"), "not a smolthink data build")
    assert snapshot(precious) == {"notes.jsonl": b"keep me\n"}
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    assert_clear_error(invoke("data", "build", recipe_file, "--out", a_file, "--overwrite"), "not a smolthink data build")
    assert a_file.read_text() == "mine"
    # an empty folder and a previous build are replaced
    (tmp_path / "empty").mkdir()
    assert invoke("data", "build", recipe_file, "--out", tmp_path / "empty", "--overwrite").exit_code == 0
    assert invoke("data", "build", recipe_file, "--out", tmp_path / "empty", "--overwrite").exit_code == 0
    assert load_manifest(tmp_path / "empty")["splits"]["train"] == 9


# ---------------------------------------------------------------------------------------- build: empty splits


@pytest.mark.parametrize("extra, splits", [({"validation": 0}, (12, 0)),
                                           ({"sources": [{"name": "local", "type": "local", "count": 1}]}, (1, 0))])
def test_a_build_with_an_empty_split_reads_back_everywhere(tmp_path, extra, splits):
    source = write_jsonl(tmp_path / "chats.jsonl", rows())
    if "sources" in extra:
        extra["sources"][0]["path"] = str(source)
    out = tmp_path / "out"
    result = invoke("data", "build", write_recipe(tmp_path / "r.yaml", source, **extra), "--out", out)
    assert result.exit_code == 0, result.output
    assert tuple(load_manifest(out)["splits"].values()) == splits
    assert len(load_conversations(out, "train")) == splits[0] and load_conversations(out, "validation") == []
    from datasets import load_from_disk

    assert len(load_from_disk(str(out / "p1"))["validation"]) == 0
    assert invoke("data", "stats", out).exit_code == 0
    result = invoke("data", "show", out, "--n", "1")
    assert result.exit_code == 0 and "── local /" in result.output
    assert_clear_error(invoke("data", "show", out, "--split", "validation"), "validation split is empty")


def test_the_train_split_is_never_empty(tmp_path):
    source = write_jsonl(tmp_path / "chats.jsonl", rows(2))
    manifest = build(recipe(source, validation=0.9), tmp_path / "out")
    assert manifest["splits"] == {"train": 1, "validation": 1}


# ---------------------------------------------------------------------------------------- build: all rejected


def test_all_rows_rejected_keeps_the_quarantine_and_says_why(tmp_path):
    source = write_jsonl(tmp_path / "chats.jsonl", ["{broken"] * 3 + [json.dumps({"text": "no conversation"})] * 2)
    out = tmp_path / "out"
    result = invoke("data", "build", write_recipe(tmp_path / "r.yaml", source), "--out", out)
    assert_clear_error(result, "malformed JSON: 3", "no conversation: 2", "out.quarantine.jsonl")
    kept = tmp_path / "out.quarantine.jsonl"
    reasons = sorted(json.loads(line)["reason"] for line in kept.read_text().splitlines())
    assert reasons == ["malformed JSON"] * 3 + ["no conversation"] * 2
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["chats.jsonl", "out.quarantine.jsonl", "r.yaml"]
    # once the recipe is fixed, the stale quarantine beside the output goes
    write_jsonl(source, rows())
    assert invoke("data", "build", tmp_path / "r.yaml", "--out", out).exit_code == 0
    assert not kept.exists() and (out / "quarantine.jsonl").is_file()


# ------------------------------------------------------------------------------------- build: leftovers


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_a_build_removes_what_killed_builds_left_but_not_a_running_ones(tmp_path):
    source = write_jsonl(tmp_path / "chats.jsonl", rows())
    stale, running, trash, other = (tmp_path / n for n in (".out.tmp-0123abcd", ".out.tmp-89abcdef", ".out.old-4567",
                                                           ".other.tmp-0123"))
    for folder in (stale, running, trash, other):
        write_jsonl(folder / "quarantine.jsonl", ["{}"])
    for folder in (stale, other):
        _age(folder, 3)
    build(recipe(source), tmp_path / "out")
    assert not stale.exists() and not trash.exists()
    assert running.is_dir() and other.is_dir()  # a concurrent build's temporary, and another output's


# --------------------------------------------------------------------------------- build: unreadable sources


def test_a_parquet_source_with_corrupt_pages_names_the_source(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": json.dumps(r["messages"])} for r in rows(3000)]), good,
                   row_group_size=500, compression="snappy")
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = bytes((b * 7 + 3) % 256 for b in data[middle:middle + 2000])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    result = invoke("data", "build", write_recipe(tmp_path / "r.yaml", bad), "--out", tmp_path / "out")
    assert_clear_error(result, "'local'", "bad.parquet")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ damaged builds: show, stats, train


def _drop_phases(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["phases"]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _truncate_arrow(part: Path) -> None:
    for arrow in (part / "train").glob("*.arrow"):
        arrow.write_bytes(arrow.read_bytes()[:300])


def _negative_ids(part: Path) -> None:
    from datasets import Dataset, DatasetDict, load_from_disk

    parts = load_from_disk(str(part))
    bad = DatasetDict({s: Dataset.from_dict({**parts[s].to_dict(), "input_ids": [[-5] * len(x) for x in parts[s]["input_ids"]]})
                       for s in parts})
    shutil.rmtree(part)
    bad.save_to_disk(str(part))


DAMAGE = {
    "manifest without phases": (lambda d: _drop_phases(d), "manifest.json"),
    "manifest that is a list": (lambda d: (d / "manifest.json").write_text("[]"), "manifest.json"),
    "missing phase folder": (lambda d: shutil.rmtree(d / "p1"), "p1"),
    "truncated phase data": (lambda d: _truncate_arrow(d / "p1"), "p1"),
    "phase dataset_dict.json garbage": (lambda d: (d / "p1" / "dataset_dict.json").write_text("{oops"), "p1"),
    "phase without its train split": (lambda d: shutil.rmtree(d / "p1" / "train"), "p1"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_data_stats_on_a_damaged_build_is_a_clear_error(built, tmp_path, damage):
    folder = damaged_copy(built, tmp_path)
    hurt, name = DAMAGE[damage]
    hurt(folder)
    assert_clear_error(invoke("data", "stats", folder), name)


@pytest.mark.parametrize("damage", ["manifest without phases", "truncated conversations", "conversations row not JSON"])
def test_data_show_on_a_damaged_build_is_a_clear_error(built, tmp_path, damage):
    from datasets import load_from_disk

    folder = damaged_copy(built, tmp_path)
    if damage == "manifest without phases":
        _drop_phases(folder)
    elif damage == "truncated conversations":
        _truncate_arrow(folder / "conversations")
    else:
        parts = load_from_disk(str(folder / "conversations"))
        parts.map(lambda row: {"messages": "{not json"}).save_to_disk(str(tmp_path / "broken"))
        shutil.rmtree(folder / "conversations")
        shutil.move(tmp_path / "broken", folder / "conversations")
    assert_clear_error(invoke("data", "show", folder), "manifest.json" if "manifest" in damage else "conversations")


def train_recipe(tmp_path: Path, model: Path, data: Path, **phase) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "model": str(model), "data": str(data),
        "defaults": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "logging_steps": 1,
                     "save_steps": 100, "warmup_steps": 0},
        "phases": [{"name": "p1", "max_steps": 1, **phase}],
    }), encoding="utf-8")
    return path


@pytest.fixture
def no_model_loading(monkeypatch):
    """Damaged data must be found before a model is loaded: loading one fails the test."""
    def load_start(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was checked")

    monkeypatch.setattr("smolthink.train.run.load_start", load_start)


@pytest.mark.parametrize("damage", [*DAMAGE, "negative token ids"], ids=[*DAMAGE, "negative token ids"])
def test_train_on_a_damaged_build_fails_before_loading_the_model(built, tmp_path, tiny_model_dir, no_model_loading, damage):
    from smolthink.train.run import train

    folder = damaged_copy(built, tmp_path)
    hurt, name = DAMAGE.get(damage, (lambda d: _negative_ids(d / "p1"), "p1"))
    hurt(folder)
    with pytest.raises((BuildError, ConfigError), match=name):
        train(train_recipe(tmp_path, tiny_model_dir, folder), out=tmp_path / "run")
    result = invoke("train", train_recipe(tmp_path, tiny_model_dir, folder), "--out", tmp_path / "run")
    assert_clear_error(result, name)


def test_evaluating_without_validation_data_is_refused_before_loading_the_model(tmp_path, tiny_model_dir, no_model_loading):
    from smolthink.train.run import train

    source = write_jsonl(tmp_path / "chats.jsonl", rows())
    build(recipe(source, validation=0), tmp_path / "data")
    with pytest.raises(ConfigError, match=r"phases\[0\] \(p1\) evaluates.*validation split.*is empty"):
        train(train_recipe(tmp_path, tiny_model_dir, tmp_path / "data", eval_strategy="steps", eval_steps=1),
              out=tmp_path / "run")
