"""Decontamination from what was built: data build records prompt hashes, eval skips the cases they hold."""

import json

import pytest

from smolthink.data.build import build
from smolthink.data.decontam import HASH_FILE, prompt_hash, read_hashes, training_data_of
from smolthink.data.recipe import recipe_from_dict
from smolthink.eval import reasoning
from smolthink.eval.runner import decontaminate


def _chat(question, answer):
    return [{"role": "user", "content": question}, {"role": "assistant", "reasoning": "r.", "content": answer}]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A build whose local data holds, among its own rows, two questions of the reasoning suite's test split."""
    tmp = tmp_path_factory.mktemp("decontam")
    cases = reasoning.load_cases(limit=5, gym_tasks=[], synthetic_tasks=["reverse"])
    leaked = [cases[1], cases[3]]
    rows = [{"messages": _chat(f"Own question number {i} about nothing in particular?", "ok")} for i in range(20)]
    rows += [{"messages": _chat("  " + c.messages[0]["content"] + "\n", "x")} for c in leaked]  # whitespace differs
    src = tmp / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = recipe_from_dict({"name": "d", "seed": 1, "validation": 0.1, "tokenizer": "smollm2-135m",
                               "sources": [{"name": "local", "type": "local", "path": str(src)}],
                               "phases": [{"name": "p1", "window": 256, "stride": 64}]})
    out = tmp / "data"
    manifest = build(recipe, out)
    run = tmp / "run"
    run.mkdir()
    (run / "train_config.json").write_text(json.dumps({"data_dir": str(out)}), encoding="utf-8")
    return {"manifest": manifest, "data": out, "run": run, "cases": cases, "leaked": leaked}


def test_build_records_a_hash_of_every_prompt(built):
    hashes = read_hashes(built["data"] / HASH_FILE)
    assert built["manifest"]["prompt_hashes"] == {"file": HASH_FILE, "count": len(hashes)}
    assert len(hashes) == 22  # train and validation rows alike
    assert prompt_hash("Own question number 0 about nothing in particular?") in hashes
    assert prompt_hash("a question never built") not in hashes


def test_eval_skips_exactly_the_cases_in_the_training_data(built):
    kept, report = decontaminate(built["cases"], [str(built["run"])])
    assert [c.id for c in kept] == [c.id for c in built["cases"] if c not in built["leaked"]]
    assert report["skipped"] == {"reasoning": 2}
    assert report["hash_files"] == [str(built["data"] / HASH_FILE)]


def test_the_union_over_the_compared_models_is_skipped_for_all(built):
    # the base model (no run folder) is compared on the same cases as the tuned one
    kept, report = decontaminate(built["cases"], [None, "smollm2-135m", str(built["run"])])
    assert len(kept) == 3 and report["skipped"] == {"reasoning": 2}
    kept, report = decontaminate(built["cases"], [None, "smollm2-135m"])
    assert len(kept) == 5 and report == {"skipped": {}, "hash_files": []}


def test_a_gguf_names_its_run_and_an_old_build_is_reported(built, tmp_path):
    from gguf import GGUFWriter

    gguf = tmp_path / "m.gguf"
    writer = GGUFWriter(str(gguf), "llama")
    writer.add_string("smolthink.run_dir", str(built["run"]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert training_data_of(gguf) == built["data"]
    assert training_data_of(tmp_path) is None and training_data_of("smollm2-135m") is None

    old = tmp_path / "old-run"
    old.mkdir()
    (old / "train_config.json").write_text(json.dumps({"data_dir": str(tmp_path / "old-data")}), encoding="utf-8")
    kept, report = decontaminate(built["cases"], [str(old)])
    assert len(kept) == 5 and "missing: build the data again" in report["hash_files"][0]


def test_a_foreign_hash_file_is_refused(tmp_path):
    (tmp_path / HASH_FILE).write_text("not a hash\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a prompt hash file"):
        read_hashes(tmp_path / HASH_FILE)


def test_an_exported_run_is_decontaminated_against_its_data(built, tiny_model_dir, tmp_path):
    import shutil

    from smolthink.export import export_model

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    (run / "train_config.json").write_text(json.dumps({"data_dir": str(built["data"])}), encoding="utf-8")
    gguf = export_model(str(run), "gguf", out=tmp_path / "run.gguf")
    assert training_data_of(gguf) == built["data"]
    kept, report = decontaminate(built["cases"], [str(gguf)])
    assert report["skipped"] == {"reasoning": 2} and len(kept) == 3
