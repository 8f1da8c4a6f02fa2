"""The eval runner and report: caching/resume, aggregation, report files, and the `smolthink eval` command."""

import json

import pytest
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.eval.cases import Case
from smolthink.eval.runner import EvalOptions, aggregate, generate, load_cases, model_tag, suite_names
from smolthink.eval.report import write_report
from smolthink.eval.stats import wilson

runner = CliRunner()


class CountingBackend:
    """Answers every prompt with a fixed tool call and counts how often it is asked."""

    name = "counting"
    template = None
    tool_style = "xml"

    def __init__(self, text):
        self.text, self.calls = text, 0
        from smolthink.backends import GenerationStats

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
    lo, hi = wilson(1, 2)
    assert agg["s"]["categories"]["a"] == {"n": 2, "correct": 1, "accuracy": 50.0, "ci": [round(100 * lo, 2), round(100 * hi, 2)],
                                           "ci_method": "wilson"}
    assert agg["s"]["overall"]["accuracy"] == pytest.approx(66.67) and agg["s"]["overall"]["n"] == 3
    assert "groups" not in agg["s"]


def test_aggregate_groups_and_partial_credit():
    rows = [{"suite": "r", "category": "gym/a", "group": "in_distribution", "correct": False, "score": 0.5},
            {"suite": "r", "category": "gym/a", "group": "in_distribution", "correct": True, "score": 1.0},
            {"suite": "r", "category": "gym/b", "group": "out_of_distribution", "correct": False, "score": 0.0}]
    agg = aggregate(rows)["r"]
    assert agg["groups"]["in_distribution"]["n"] == 2 and agg["groups"]["in_distribution"]["accuracy"] == 75.0
    assert agg["groups"]["in_distribution"]["ci_method"] == "bootstrap"
    assert agg["groups"]["out_of_distribution"] == {"n": 1, "correct": 0, "accuracy": 0.0, "ci": [0.0, 79.35], "ci_method": "wilson"}


def test_unknown_suite_and_category_are_rejected():
    with pytest.raises(ValueError, match="valid suites"):
        suite_names("vibes")
    with pytest.raises(ValueError, match="'vibes'; valid suites"):
        suite_names("compliance,vibes")
    with pytest.raises(ValueError, match="valid suites"):
        suite_names(" , ")
    assert suite_names("compliance, reasoning,compliance") == ["compliance", "reasoning"]
    assert suite_names("bfcl,default") == suite_names("default")
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
    result = runner.invoke(app, ["eval", "--split", "train"])
    assert result.exit_code == 2 and "dev, test, all" in result.output


def test_report_without_baseline(tmp_path):
    case_row = {"suite": "reasoning", "category": "gym/x", "case_id": "1", "correct": True, "score": 1.0, "detail": "", "raw": "r",
                "finish_reason": "stop", "tokens": 3, "question": "q"}
    results = {"settings": {}, "model": {"ref": "m", "backend": "b", "suites": aggregate([case_row]), "cases": [case_row]}}
    paths = write_report(results, tmp_path)
    assert "| gym/x | 1 | 100.0 [20.6, 100.0] |" in paths["markdown"].read_text()  # Wilson interval of 1 in 1


@pytest.mark.slow
def test_eval_end_to_end_on_the_real_model_writes_the_report(tmp_path):
    """The embedded model through llama.cpp on every suite (one reasoning task of each group, to keep CI short),
    one case per category: the report files exist and every case was scored (garbage answers score 0)."""
    out = tmp_path / "ev"
    tasks = "synthetic/arithmetic,gym/chain_sum,gym/syllogism,gym/gsm_symbolic"
    result = runner.invoke(app, ["eval", "--limit", "1", "--categories", "simple_python,irrelevance", "--tasks", tasks,
                                 "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    suites = results["model"]["suites"]
    assert set(suites) == {"bfcl", "reasoning", "compliance", "functions", "search_qa", "ifeval"}
    assert suites["functions"]["overall"]["n"] == 3 and suites["search_qa"]["overall"]["n"] == 2
    assert set(suites["ifeval"]["categories"]) >= {"ifeval/length", "ifeval/no_tool_talk"}
    assert suites["reasoning"]["overall"]["n"] == 4
    assert set(suites["reasoning"]["groups"]) == {"in_distribution", "out_of_distribution", "grade_school_math"}
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


# ------------------------------------------------------------------------------- splits, runs, significance


def test_cut_by_limit_names_the_categories_limit_cut():
    from smolthink.eval import bfcl
    from smolthink.eval.runner import cut_by_limit

    options = EvalOptions(suite="bfcl", bfcl_categories=["simple_python", "irrelevance"], limit=3)
    cases = load_cases(options)
    assert len(cases) == 6 and options.split == "test"
    sizes = bfcl.split_sizes(["simple_python", "irrelevance"], "test")
    assert cut_by_limit(options, cases) == {"bfcl": {c: {"n": 3, "of": sizes[c]} for c in ("irrelevance", "simple_python")}}
    whole = EvalOptions(suite="bfcl", bfcl_categories=["live_parallel"], split="dev")
    assert cut_by_limit(whole, load_cases(whole)) == {}
    reasoning_options = EvalOptions(suite="reasoning", reasoning_tasks=["gym/gcd"], limit=2)
    assert cut_by_limit(reasoning_options, load_cases(reasoning_options)) == {"reasoning": {"gym/gcd": {"n": 2, "of": 20}}}


def _row(suite, category, case_id, score, group=""):
    return {"suite": suite, "category": category, "case_id": case_id, "correct": score >= 1.0, "score": score,
            "detail": "", "raw": f"answer {score}", "finish_reason": "stop", "tokens": 1, "question": "q", "group": group}


def _result(ref, scores):
    rows = [_row("bfcl", "simple", f"s{i}", s) for i, s in enumerate(scores)]
    return {"ref": ref, "backend": "b", "suites": aggregate(rows), "cases": rows}


def test_several_runs_report_mean_and_sd_and_a_paired_test_against_the_baseline(tmp_path):
    from smolthink.eval.report import combine, summary_table

    run_a = _result("seed1", [1.0] * 14 + [0.0] * 6)  # 70 %
    run_b = _result("seed2", [1.0] * 10 + [0.0] * 10)  # 50 %
    base = _result("base", [0.0] * 20)
    results = combine({"split": "test"}, [run_a, run_b], base, {"bfcl": {"simple": {"n": 20, "of": 100}}})
    stat = results["model"]["suites"]["bfcl"]["categories"]["simple"]
    assert stat["accuracy"] == 60.0 and stat["runs"] == [70.0, 50.0] and stat["sd"] == pytest.approx(14.14, abs=0.01)
    assert stat["ci_method"] == "bootstrap" and stat["ci"][0] < 60 < stat["ci"][1]  # per-case means: 1, 0.5 or 0
    test = results["comparison"]["bfcl"]["categories"]["simple"]
    assert test["test"] == "paired_bootstrap" and test["delta"] == 60.0 and test["significant"]
    assert [r["comparison"]["bfcl"]["overall"]["test"] for r in results["runs"]] == ["mcnemar", "mcnemar"]
    assert results["runs"][0]["comparison"]["bfcl"]["overall"]["p"] == pytest.approx(2 / 2**14, abs=1e-4)
    paths = write_report(results, tmp_path)
    saved = json.loads(paths["results"].read_text())
    assert [r["ref"] for r in saved["runs"]] == ["seed1", "seed2"] and "cases" not in saved["runs"][0]
    assert saved["runs"][1]["suites"]["bfcl"]["overall"]["accuracy"] == 50.0
    md = paths["markdown"].read_text()
    assert "| simple † | 20 | 60.0 ± 14.1 [" in md and "+60.0 (p=" in md and "simple (20 of 100)" in md
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_table(results))
    text = console.export_text()
    assert "60.0 ± 14.1" in text and "*)" in text and "test split" in text


def test_no_difference_is_not_significant():
    from smolthink.eval.report import combine

    model = _result("m", [1.0, 0.0] * 10)
    base = _result("b", [0.0, 1.0] * 10)  # same accuracy, every case flipped: McNemar 10 vs 10
    test = combine({}, [model], base)["comparison"]["bfcl"]["overall"]
    assert test == {"n": 20, "delta": 0.0, "p": 1.0, "test": "mcnemar", "significant": False}


def test_eval_cli_with_several_models_and_the_dev_split(tiny_model_dir, tmp_path):
    import shutil

    copies = []
    for name in ("seed1", "seed2"):
        shutil.copytree(tiny_model_dir, tmp_path / name)
        copies += ["--model", str(tmp_path / name)]
    out = tmp_path / "ev"
    args = ["eval", *copies, "--baseline", str(tiny_model_dir), "--suite", "bfcl", "--split", "dev",
            "--categories", "irrelevance", "--limit", "2", "--out", str(out), "--batch-size", "2"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["split"] == "dev" and len(results["runs"]) == 2
    assert results["model"]["refs"] == [str(tmp_path / "seed1"), str(tmp_path / "seed2")]
    stat = results["model"]["suites"]["bfcl"]["categories"]["irrelevance"]
    assert stat["n"] == 2 and len(stat["runs"]) == 2 and "sd" in stat and len(stat["ci"]) == 2
    assert results["comparison"]["bfcl"]["overall"]["n"] == 2
    assert results["cut_by_limit"]["bfcl"]["irrelevance"]["n"] == 2
    dev_ids = {json.loads(line)["case_id"] for line in next(out.glob("*seed1-*/generations.jsonl")).read_text().splitlines()}
    from smolthink.eval.cases import split_of

    assert len(dev_ids) == 2 and all(split_of(i) == "dev" for i in dev_ids)
    assert "mean of 2 runs" in result.output and "cut by --limit" in " ".join(result.output.split())


def test_reasoning_groups_show_in_every_view(tmp_path):
    from rich.console import Console

    from smolthink.eval.report import combine, summary_table

    rows = [_row("reasoning", "gym/gcd", "g1", 1.0, "in_distribution"), _row("reasoning", "gym/syllogism", "s1", 0.0, "out_of_distribution"),
            _row("reasoning", "gym/syllogism", "s2", 1.0, "out_of_distribution")]
    results = combine({"split": "dev"}, [{"ref": "m", "backend": "b", "suites": aggregate(rows), "cases": rows}])
    assert results["model"]["suites"]["reasoning"]["groups"]["out_of_distribution"]["accuracy"] == 50.0
    console = Console(width=200, record=True)
    console.print(summary_table(results))
    text = console.export_text()
    assert "group out_of_distribution" in text and "group in_distribution" in text and "dev split" in text
    md = write_report(results, tmp_path)["markdown"].read_text()
    assert "| group out_of_distribution | 2 | 50.0 [" in md
