"""The eval runner and report: caching/resume, aggregation, report files, and the `smolthink eval` command."""

import json

import pytest
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.eval.cases import Case
from smolthink.eval.runner import EvalOptions, aggregate, generate, load_cases, model_tag, suite_names
from smolthink.eval.report import write_report

runner = CliRunner()


class CountingBackend:
    """Answers every prompt with a fixed tool call and counts how often it is asked."""

    name = "counting"
    template = None

    def __init__(self, text):
        self.text, self.calls = text, 0
        from smolthink.chat.backends import GenerationStats

        self.stats = GenerationStats(completion_tokens=5, finish_reason="stop")

    def stream(self, prompt, gen):
        self.calls += 1
        yield self.text


def test_generations_are_cached_and_an_interrupted_run_resumes(tmp_path):
    cases = [Case("reasoning", "c", f"id{i}", [{"role": "user", "content": f"q{i}"}]) for i in range(4)]
    cache = tmp_path / "gen.jsonl"
    backend = CountingBackend("x\n</think>\n\n42")
    generate(backend, cases[:2], cache, EvalOptions())
    assert backend.calls == 2
    with cache.open("a") as f:
        f.write('{"key": "trunc')  # a line cut short by a kill
    out = generate(backend, cases, cache, EvalOptions())
    assert backend.calls == 4 and set(out) == {c.id for c in cases}
    generate(backend, cases, cache, EvalOptions())
    assert backend.calls == 4  # everything cached now


def test_aggregate_counts_per_category_and_overall():
    rows = [{"suite": "s", "category": "a", "correct": True, "score": 1.0}, {"suite": "s", "category": "a", "correct": False, "score": 0.0},
            {"suite": "s", "category": "b", "correct": True, "score": 1.0}]
    agg = aggregate(rows)
    assert agg["s"]["categories"]["a"] == {"n": 2, "correct": 1, "accuracy": 50.0}
    assert agg["s"]["overall"]["accuracy"] == pytest.approx(66.67)


def test_unknown_suite_and_category_are_rejected():
    with pytest.raises(ValueError, match="valid suites"):
        suite_names("vibes")
    with pytest.raises(ValueError, match="simple_python"):
        load_cases(EvalOptions(suite="bfcl", bfcl_categories=["simple_cobol"]))


def test_model_tags_are_folder_safe_and_distinct():
    assert "/" not in model_tag("runs/a/b") and model_tag("runs/a") != model_tag("runs_a")


def test_eval_cli_on_a_tiny_model_writes_the_report_and_reuses_the_cache(tiny_model_dir, tmp_path):
    out = tmp_path / "ev"
    args = ["eval", "--model", str(tiny_model_dir), "--baseline", str(tiny_model_dir), "--suite", "bfcl",
            "--categories", "simple_python,irrelevance", "--limit", "2", "--out", str(out), "--batch-size", "2"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "simple_python" in result.output and "overall" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["suites"]["bfcl"]["categories"]["simple_python"]["n"] == 2
    assert (out / "report.md").read_text().count("## side by side") == 1
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "baseline" in html
    (gens,) = list(out.glob("*/generations.jsonl"))
    lines = gens.read_text().splitlines()
    assert len(lines) == 4
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0 and gens.read_text().splitlines() == lines  # nothing generated again


def test_eval_cli_bad_suite_lists_valid_ones():
    result = runner.invoke(app, ["eval", "--suite", "vibes"])
    assert result.exit_code == 2 and "bfcl" in result.output


def test_report_without_baseline(tmp_path):
    case_row = {"suite": "reasoning", "category": "gym/x", "case_id": "1", "correct": True, "score": 1.0, "detail": "", "raw": "r",
                "finish_reason": "stop", "tokens": 3, "question": "q"}
    results = {"settings": {}, "model": {"ref": "m", "backend": "b", "suites": aggregate([case_row]), "cases": [case_row]}}
    paths = write_report(results, tmp_path)
    assert "| gym/x | 1 | 100.0 |" in paths["markdown"].read_text()


@pytest.mark.slow
def test_eval_end_to_end_on_the_real_model_writes_the_report(tmp_path):
    """The embedded model through llama.cpp on every suite, two cases per category: the report files exist and
    every case was scored (garbage answers score 0; nothing raises)."""
    out = tmp_path / "ev"
    result = runner.invoke(app, ["eval", "--limit", "1", "--categories", "simple_python,irrelevance", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    suites = results["model"]["suites"]
    assert set(suites) == {"bfcl", "reasoning", "compliance"}
    assert suites["bfcl"]["overall"]["n"] == 2 and suites["compliance"]["overall"]["n"] == 2
    assert "compliance" in results["model"]["compliance_stats"]
    assert (out / "report.html").stat().st_size > 10_000 and (out / "bfcl.png").is_file()


def test_cached_generations_of_other_weights_at_the_same_path_are_not_reused(tiny_model_dir, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path / "ev"
    args = ["eval", "--model", str(model), "--suite", "bfcl", "--categories", "irrelevance", "--limit", "1",
            "--out", str(out), "--batch-size", "1"]
    assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    (gens,) = list(out.glob("*/generations.jsonl"))
    first = [json.loads(line)["raw"] for line in gens.read_text().splitlines()]
    # "retrain" into the same directory: the weights file changes
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes())
    import os

    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0 and "model files changed" in " ".join(result.output.split())
    assert [json.loads(line)["raw"] for line in gens.read_text().splitlines()] == first  # regenerated (same weights bytes here, so the same text) …
    assert len(list(gens.parent.glob("generations.*.stale.jsonl"))) == 1  # … and the old cache kept aside
