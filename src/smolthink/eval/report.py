"""The eval report: results.json, report.md and report.html (tables, bar charts with 95 % intervals, side-by-side
answers), and `combine`, which assembles the results of one eval: one model or several runs of one recipe (mean ±
sd), a baseline, and paired significance tests of the difference on the same cases."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from smolthink.atomic import write_atomic
from smolthink.eval.stats import compare, mean_sd


def combine(settings: dict[str, Any], runs: list[dict[str, Any]], baseline: dict[str, Any] | None = None,
            cut: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results of one eval: `runs` are evaluate_model results on the same cases (one model, or several runs of
    one recipe, e.g. seeds), `baseline` another model on those cases.

    {"settings", "model", "baseline"?, "comparison"?, "runs"?, "cut_by_limit"}: with one run "model" is that run;
    with several it is their mean (`merge_runs`) and "runs" keeps each. "comparison" holds the paired tests of model
    against baseline (`compare_to`); each run also carries its own under runs[i]["comparison"]."""
    if not runs:
        raise ValueError("no model results to report")
    results: dict[str, Any] = {"settings": settings, "model": runs[0] if len(runs) == 1 else merge_runs(runs)}
    if len(runs) > 1:
        results["runs"] = runs
    if baseline is not None:
        results["baseline"] = baseline
        results["comparison"] = compare_to(results["model"]["cases"], baseline["cases"])
        for run in runs if len(runs) > 1 else []:
            run["comparison"] = compare_to(run["cases"], baseline["cases"])
    results["cut_by_limit"] = cut or {}
    return results


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs on the same cases as one result: each case's score is its mean over the runs (partial credit, so
    intervals and tests bootstrap over cases), and each accuracy carries "sd" and "runs" (every run's accuracy):
    mean ± sd across runs. Answers shown side by side are the first run's."""
    from smolthink.eval.runner import aggregate

    ids = [r["case_id"] for r in runs[0]["cases"]]
    per_run = [{r["case_id"]: r for r in run["cases"]} for run in runs]
    for run, rows in zip(runs, per_run):
        if set(rows) != set(ids):
            raise ValueError(f"{run['ref']} was evaluated on other cases than {runs[0]['ref']}: runs must share cases")
    cases = []
    for cid in ids:
        scores = [rows[cid]["score"] for rows in per_run]
        mean = sum(scores) / len(scores)
        cases.append({**per_run[0][cid], "score": mean, "correct": mean >= 1.0, "run_scores": scores})
    suites = aggregate(cases)
    for suite, data in suites.items():
        for kind, stat in _stats(data):
            values = [_lookup(run["suites"][suite], kind) for run in runs]
            mean, sd = mean_sd([v["accuracy"] for v in values])
            stat.update(accuracy=round(mean, 2), sd=round(sd, 2), runs=[v["accuracy"] for v in values],
                        correct=round(sum(v["correct"] for v in values) / len(values), 2))
    return {"ref": f"mean of {len(runs)} runs", "refs": [r["ref"] for r in runs], "backend": runs[0]["backend"],
            "suites": suites, "cases": cases}


def _stats(data: dict[str, Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """((kind, name), stat) for every accuracy of one suite: its categories, groups and overall."""
    out = [(("categories", c), s) for c, s in data["categories"].items()]
    out += [(("groups", g), s) for g, s in data.get("groups", {}).items()]
    return out + [(("overall", ""), data["overall"])]


def _lookup(data: dict[str, Any], kind: tuple[str, str]) -> dict[str, Any]:
    return data["overall"] if kind[0] == "overall" else data[kind[0]][kind[1]]


def compare_to(model_cases: list[dict[str, Any]], baseline_cases: list[dict[str, Any]]) -> dict[str, Any]:
    """{suite: {"categories": {cat: test}, "groups": {...}, "overall": test}}: model minus baseline on the cases
    both answered, with an exact McNemar test (0/1 scores) or a paired bootstrap (partial credit); see eval/stats."""
    base = {r["case_id"]: r for r in baseline_cases}
    pairs: dict[str, dict[tuple[str, str], tuple[list[float], list[float]]]] = {}
    for r in model_cases:
        if r["case_id"] not in base:
            continue
        keys = [("categories", r["category"]), ("overall", "")] + ([("groups", r["group"])] if r.get("group") else [])
        for key in keys:
            m, b = pairs.setdefault(r["suite"], {}).setdefault(key, ([], []))
            m.append(r["score"])
            b.append(base[r["case_id"]]["score"])
    out: dict[str, Any] = {}
    for suite, by in pairs.items():
        data: dict[str, Any] = {"categories": {}}
        for (kind, name), (m, b) in by.items():
            if kind == "overall":
                data["overall"] = compare(m, b)
            else:
                data.setdefault(kind, {})[name] = compare(m, b)
        out[suite] = data
    return out


# --------------------------------------------------------------------------------------------------- rows


def _rows(results: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per suite, the rows every view shows: categories, then groups, then overall; each row has "label", "kind",
    "model" (its stat), "baseline" (stat or None), "test" (paired test or None) and "cut" ({"n", "of"} or None)."""
    model, baseline = results["model"]["suites"], (results.get("baseline") or {}).get("suites", {})
    tests, cut = results.get("comparison") or {}, results.get("cut_by_limit") or {}
    out = []
    for suite, data in model.items():
        rows = []
        for kind, stat in _stats(data):
            label = kind[1] if kind[0] == "categories" else (f"group {kind[1]}" if kind[0] == "groups" else "overall")
            base = _lookup(baseline[suite], kind) if suite in baseline and _has(baseline[suite], kind) else None
            test = _lookup(tests[suite], kind) if suite in tests and _has(tests[suite], kind) else None
            rows.append({"label": label, "kind": kind[0], "model": stat, "baseline": base, "test": test,
                         "cut": cut.get(suite, {}).get(kind[1]) if kind[0] == "categories" else None})
        out.append((suite, rows))
    return out


def _has(data: dict[str, Any], kind: tuple[str, str]) -> bool:
    return kind[0] == "overall" and "overall" in data or kind[1] in data.get(kind[0], {})


def _acc_text(stat: dict[str, Any]) -> str:
    """"62.5 [40.9, 80.0]", or with several runs "62.5 ± 3.1 [40.9, 80.0]"."""
    spread = f" ± {stat['sd']:.1f}" if "sd" in stat else ""
    lo, hi = stat["ci"]
    return f"{stat['accuracy']:.1f}{spread} [{lo:.1f}, {hi:.1f}]"


def _test_text(test: dict[str, Any] | None) -> str:
    """"+12.5 (p=0.021 *)": the difference, its paired test's p-value, * when significant at 5 %."""
    if test is None:
        return "-"
    return f"{test['delta']:+.1f} (p={test['p']:.3g}{' *' if test['significant'] else ''})"


def _label(row: dict[str, Any]) -> str:
    return row["label"] + (" †" if row["cut"] else "")


def _notes(results: dict[str, Any]) -> list[str]:
    notes = ["accuracy % [95 % interval: Wilson for 0/1 scores, bootstrap for partial credit]; n cases."]
    if "runs" in results:
        notes.append(f"model: mean ± sd over {len(results['runs'])} runs ({', '.join(results['model']['refs'])}); "
                     "the interval bootstraps over cases of the per-case mean score.")
    if results.get("baseline"):
        notes.append("Δ = model − baseline on the same cases, with the paired test's p-value (exact McNemar for 0/1 "
                     "scores, paired bootstrap for partial credit); * = significant at p < 0.05.")
    cut = [f"{suite}/{cat} ({c['n']} of {c['of']})" for suite, cats in (results.get("cut_by_limit") or {}).items()
           for cat, c in cats.items()]
    if cut:
        notes.append(f"† cut by --limit, so not the whole {results['settings'].get('split', 'test')} split: "
                     + ", ".join(cut) + ".")
    return notes


def summary_table(results: dict[str, Any]) -> Table:
    """Terminal summary: per suite, category, group and overall, model (and baseline) accuracy with n and 95 %
    interval, and the difference with its paired test's p-value."""
    has_base = results.get("baseline") is not None
    split = results["settings"].get("split")
    table = Table(title=f"eval summary (accuracy %, 95 % interval){f' on the {split} split' if split else ''}",
                  caption=escape("\n".join(_notes(results))), caption_justify="left")
    table.add_column("suite")
    table.add_column("category")
    table.add_column("n", justify="right")
    table.add_column(escape(results["model"]["ref"]), justify="right")
    if has_base:
        table.add_column(escape(results["baseline"]["ref"]), justify="right")
        table.add_column("Δ (p)", justify="right")
    for suite, rows in _rows(results):
        for row in rows:
            cells = [escape(suite), escape(_label(row)), str(row["model"]["n"]), _acc_text(row["model"])]
            if has_base:
                cells += [_acc_text(row["baseline"]) if row["baseline"] else "-", _colored(row["test"])]
            table.add_row(*cells, style="bold" if row["kind"] == "overall" else None)
    return table


def _colored(test: dict[str, Any] | None) -> str:
    text = _test_text(test)
    if test is None or not test["significant"]:
        return text
    return f"[{'green' if test['delta'] > 0 else 'red'}]{text}[/]"


def _bar_chart(results: dict[str, Any], suite: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = dict(_rows(results))[suite]
    labels = [_label(r) for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels) + 2), 3.8))
    xs = range(len(labels))
    has_base = results.get("baseline") is not None
    width = 0.38 if has_base else 0.6

    def bars(stats: list[dict[str, Any] | None], offset: float, label: str, color: str) -> None:
        heights = [s["accuracy"] if s else 0.0 for s in stats]
        errors = [[s["accuracy"] - s["ci"][0] if s else 0.0 for s in stats],
                  [s["ci"][1] - s["accuracy"] if s else 0.0 for s in stats]]
        ax.bar([x + offset for x in xs], heights, width, yerr=errors, capsize=2, label=label, color=color,
               error_kw={"elinewidth": 0.8, "ecolor": "#333"})

    bars([r["model"] for r in rows], -width / 2 if has_base else 0, results["model"]["ref"], "#4c72b0")
    if has_base:
        bars([r["baseline"] for r in rows], width / 2, results["baseline"]["ref"], "#dd8452")
        for x, r in zip(xs, rows):
            if r["test"] and r["test"]["significant"]:
                ax.text(x, 101, "*", ha="center", fontsize=11)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=7)
    ax.set_ylabel("accuracy % (95 % interval)")
    ax.set_ylim(0, 108)
    ax.set_title(suite + (" (* significant difference, p < 0.05)" if has_base else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: it would hide bars and stars
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _samples(results: dict[str, Any], per_suite: int = 2) -> list[dict[str, Any]]:
    """The same prompts answered by baseline and model: the first cases of each suite where they differ, else the first."""
    model_rows = {r["case_id"]: r for r in results["model"]["cases"]}
    base_rows = {r["case_id"]: r for r in (results.get("baseline") or {}).get("cases", [])}
    picked = []
    for suite in results["model"]["suites"]:
        ids = [cid for cid, r in model_rows.items() if r["suite"] == suite]
        differ = [cid for cid in ids if cid in base_rows and base_rows[cid]["correct"] != model_rows[cid]["correct"]]
        for cid in (differ + [i for i in ids if i not in differ])[:per_suite]:
            picked.append({"case": model_rows[cid], "baseline": base_rows.get(cid)})
    return picked


def _slim(value: Any) -> Any:
    """results without the per-case rows (they are in each model's scores.jsonl)."""
    if isinstance(value, dict):
        return {k: _slim(v) for k, v in value.items() if k != "cases"}
    if isinstance(value, list):
        return [_slim(v) for v in value]
    return value


def write_report(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write results.json, report.md, report.html and one PNG per suite into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    write_atomic(paths["results"], json.dumps(_slim(results), indent=2, ensure_ascii=False))
    charts = {suite: _bar_chart(results, suite, out / f"{suite}.png") for suite in results["model"]["suites"]}
    has_base = results.get("baseline") is not None
    title = f"smolthink eval: {results['model']['ref']}" + (f" vs {results['baseline']['ref']}" if has_base else "")
    head = ["category", "n", "model"] + (["baseline", "Δ (p)"] if has_base else [])

    def cells(row: dict[str, Any]) -> list[str]:
        got = [_label(row), str(row["model"]["n"]), _acc_text(row["model"])]
        if has_base:
            got += [_acc_text(row["baseline"]) if row["baseline"] else "-", _test_text(row["test"])]
        return got

    md = [f"# {title}", "", f"Greedy decoding; backend {results['model']['backend']}; {results['settings']}", ""]
    md += [f"- {note}" for note in _notes(results)] + [""]
    for suite, rows in _rows(results):
        md += [f"## {suite}", "", f"![{suite}]({charts[suite].name})", ""]
        md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(cells(row)) + " |" for row in rows]
        md.append("")
    if "runs" in results:
        md += ["## runs", "", "| run | " + " | ".join(f"{s} overall" for s in results["model"]["suites"]) + " |",
               "|" + "---|" * (1 + len(results["model"]["suites"]))]
        for run in results["runs"]:
            md.append(f"| {run['ref']} | " + " | ".join(_acc_text(run["suites"][s]["overall"]) for s in results["model"]["suites"]) + " |")
        md.append("")
    if "compliance_stats" in results["model"]:
        md += ["## length statistics (compliance prompts)", "", "```", json.dumps(results["model"]["compliance_stats"], indent=2), "```", ""]
    md += ["## side by side" + (" (the first run's answers)" if "runs" in results else ""), ""]
    for s in _samples(results):
        case, base = s["case"], s["baseline"]
        md += [f"### {case['case_id']}", "", f"**prompt:** {case['question']}", ""]
        if base:
            md += [f"**baseline** ({'correct' if base['correct'] else 'wrong'}):", "", "```", base["raw"].strip(), "```", ""]
        md += [f"**model** ({'correct' if case['correct'] else 'wrong'}):", "", "```", case["raw"].strip(), "```", ""]
    write_atomic(paths["markdown"], "\n".join(md))

    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
             "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}.pair{display:flex;gap:1em}.pair>div{flex:1}</style>",
             f"<h1>{html.escape(title)}</h1><p>{html.escape(str(results['settings']))}</p>",
             "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in _notes(results)) + "</ul>"]
    for suite, rows in _rows(results):
        img = base64.b64encode(charts[suite].read_bytes()).decode()
        parts.append(f"<h2>{suite}</h2><img alt='{suite}' src='data:image/png;base64,{img}'>")
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
        for row in rows:
            style = " style='font-weight:bold'" if row["kind"] == "overall" else ""
            parts.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(row)) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>side by side</h2>")
    for s in _samples(results):
        case, base = s["case"], s["baseline"]
        parts.append(f"<h3>{html.escape(case['case_id'])}</h3><p><b>prompt:</b> {html.escape(case['question'])}</p><div class='pair'>")
        if base:
            parts.append(f"<div><b>baseline</b> ({'correct' if base['correct'] else 'wrong'})<pre>{html.escape(base['raw'])}</pre></div>")
        parts.append(f"<div><b>model</b> ({'correct' if case['correct'] else 'wrong'})<pre>{html.escape(case['raw'])}</pre></div></div>")
    write_atomic(paths["html"], "\n".join(parts))
    return paths
