"""The BFCL suite: loading the installed data into Cases, and scoring hand-written model outputs with BFCL's checker."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from smolthink import formats
from smolthink.eval import bfcl
from smolthink.eval.cases import Case, Scored

SINGLE_TURN = {
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance",
}  # fmt: skip
CHECKED = [c for c in bfcl.DEFAULT_CATEGORIES if c != "irrelevance"]
# Per checked category, a case whose first expected call has an integer first required argument (for the wrong
# value / wrong type mutations); parallel ones expect two calls that differ, so swapping them means something.
PROBE = {
    "simple_python": "simple_python_0",
    "multiple": "multiple_1",
    "parallel": "parallel_1",
    "parallel_multiple": "parallel_multiple_0",
}


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {c.id: c for c in bfcl.load_cases()}


# ------------------------------------------------------------------------------------------------- helpers


def _first(accepted: list[Any]) -> Any:
    """The first accepted value; inside a dict (or a list of dicts) each key again lists its accepted values."""
    value = next(v for v in accepted if v != "")

    def flat(d: dict[str, list[Any]]) -> dict[str, Any]:
        return {k: a[0] for k, a in d.items() if "" not in a}

    if isinstance(value, dict):
        return flat(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [flat(v) for v in value]
    return value


def expected_calls(case: Case) -> list[tuple[str, dict[str, Any]]]:
    """A correct answer built from the ground truth: first accepted values, leaving out what may be left out."""
    required = {fn["name"]: fn["parameters"]["required"] for fn in case.meta["function"]}
    calls = []
    for call in case.meta["ground_truth"]:
        ((name, args),) = call.items()
        given = {k: a for k, a in args.items() if any(v != "" for v in a) and ("" not in a or k in required[name])}
        calls.append((name, {k: _first(a) for k, a in given.items()}))
    return calls


def output(calls: list[tuple[str, dict[str, Any]]], *, prefix: str = "") -> str:
    blocks = [f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in calls]
    return prefix + "\n".join(blocks)


def judge(case: Case, text: str) -> Scored:
    scored = bfcl.score(case, formats.parse_assistant(text))
    assert isinstance(scored, Scored) and scored.case_id == case.id and scored.category == case.category
    assert scored.score == (1.0 if scored.correct else 0.0)
    return scored


def schema_types(node: Any) -> list[Any]:
    """Every `type` value in a schema (parameter names that happen to be "type" are not types)."""
    if not isinstance(node, dict):
        return []
    found = [node["type"]] if "type" in node else []
    for sub in (node.get("properties") or {}).values():
        found += schema_types(sub)
    for key in ("items", "additionalProperties"):
        found += schema_types(node.get(key))
    return found


# ------------------------------------------------------------------------------------------------- loading


def test_available_categories_are_the_single_turn_ones():
    assert set(bfcl.available_categories()) == SINGLE_TURN
    assert set(bfcl.DEFAULT_CATEGORIES) <= SINGLE_TURN


def test_load_cases_counts_limit_and_order(cases):
    assert len([c for c in cases.values() if c.category == "simple_python"]) == 400
    assert len(cases) == 400 + 200 + 200 + 200 + 240
    first = bfcl.load_cases(["simple_python", "irrelevance"], limit=3, enable_thinking=False)
    assert [c.category for c in first] == ["simple_python"] * 3 + ["irrelevance"] * 3
    assert all(not c.enable_thinking for c in first)
    assert [c.id for c in bfcl.load_cases(["simple_python"], limit=3)] == [c.id for c in first[:3]]
    assert bfcl.load_cases(["parallel", "parallel"], limit=2) == bfcl.load_cases(["parallel"], limit=2)  # no dupes


def test_case_shape(cases):
    case = cases["simple_python_0"]
    assert case.suite == "bfcl" and case.category == "simple_python" and case.enable_thinking
    question = "Find the area of a triangle with a base of 10 units and height of 5 units."
    assert case.messages == [{"role": "user", "content": question}]
    assert case.meta["ground_truth"] == [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
    assert case.meta["function"][0]["parameters"]["type"] == "dict"  # the original, as the checker wants it
    (tool,) = case.tools
    assert tool["type"] == "function" and tool["function"]["name"] == "calculate_triangle_area"
    assert tool["function"]["parameters"]["type"] == "object"
    assert tool["function"]["parameters"]["properties"]["base"]["type"] == "integer"
    assert tool["function"]["parameters"]["required"] == ["base", "height"]
    assert cases["simple_python_1"].tools[0]["function"]["name"] == "math.factorial"  # dotted names kept
    assert cases["irrelevance_0"].meta["ground_truth"] is None


def test_live_cases_keep_system_and_earlier_turns():
    (case,) = [c for c in bfcl.load_cases(["live_irrelevance"]) if c.id == "live_irrelevance_125-11-0"]
    assert [m["role"] for m in case.messages][:3] == ["system", "user", "assistant"]


def test_every_converted_schema_is_json_schema():
    json_types = {"string", "integer", "number", "boolean", "array", "object"}
    all_cases = bfcl.load_cases(bfcl.available_categories())
    assert len(all_cases) > 3000
    for case in all_cases:
        assert not formats.validate_conversation(case.messages, case.tools), case.id
        for tool in case.tools:
            types = schema_types(tool["function"]["parameters"])
            assert set(types) <= json_types, (case.id, set(types) - json_types)
            assert "Note that the provided function is in" in tool["function"]["description"]  # BFCL's prompt hint


@pytest.mark.parametrize("category", bfcl.DEFAULT_CATEGORIES)
def test_tools_render_through_the_template(category):
    for case in bfcl.load_cases([category], limit=2):
        text = formats.render(case.messages, case.tools, enable_thinking=True, add_generation_prompt=True)
        assert all(t["function"]["name"] in text for t in case.tools)
        assert '"dict"' not in text and '"float"' not in text


def test_unknown_category_lists_the_valid_ones():
    with pytest.raises(ValueError, match="nonsense") as err:
        bfcl.load_cases(["simple_python", "nonsense"])
    assert all(c in str(err.value) for c in SINGLE_TURN)
    with pytest.raises(ValueError, match="multi_turn_base"):
        bfcl.load_cases(["multi_turn_base"])


def test_missing_bfcl_eval_names_the_install_command(monkeypatch):
    real = bfcl.importlib.util.find_spec
    hide = lambda name, *a: None if name == "bfcl_eval" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(bfcl.importlib.util, "find_spec", hide)
    for call in (bfcl.available_categories, bfcl.load_cases):
        with pytest.raises(ImportError, match="pip install --no-deps bfcl-eval==2026.3.23"):
            call()


# ------------------------------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("category", CHECKED)
def test_ground_truth_answers_score_correct_for_every_case(cases, category):
    wrong = {}
    for case in (c for c in cases.values() if c.category == category):
        scored = judge(case, output(expected_calls(case)))
        if not scored.correct:
            wrong[case.id] = scored.detail
    assert not wrong


@pytest.mark.parametrize("category", CHECKED)
def test_correct_answer(cases, category):
    case = cases[PROBE[category]]
    scored = judge(case, output(expected_calls(case), prefix="<think>\nThe user wants this.\n</think>\n"))
    assert scored.correct and scored.detail == ""


def _mutate_first_argument(case: Case, value) -> list[tuple[str, dict[str, Any]]]:
    calls = copy.deepcopy(expected_calls(case))
    name, args = calls[0]
    key = next(k for k in next(fn for fn in case.meta["function"] if fn["name"] == name)["parameters"]["required"])
    assert type(args[key]) is int
    args[key] = value(args[key])
    return calls


@pytest.mark.parametrize("category", CHECKED)
def test_wrong_value(cases, category):
    case = cases[PROBE[category]]
    scored = judge(case, output(_mutate_first_argument(case, lambda v: v + 1000)))
    assert not scored.correct and scored.detail


@pytest.mark.parametrize("category", CHECKED)
def test_wrong_type(cases, category):
    case = cases[PROBE[category]]
    scored = judge(case, output(_mutate_first_argument(case, str)))  # "10" where 10 is required
    assert not scored.correct and scored.detail


@pytest.mark.parametrize("category", CHECKED)
def test_missing_required_argument(cases, category):
    case = cases[PROBE[category]]
    calls = expected_calls(case)
    name, args = calls[0]
    required = next(fn for fn in case.meta["function"] if fn["name"] == name)["parameters"]["required"]
    calls[0] = (name, {k: v for k, v in args.items() if k != required[0]})
    scored = judge(case, output(calls))
    assert not scored.correct and scored.detail


@pytest.mark.parametrize("category", CHECKED)
def test_extra_call(cases, category):
    case = cases[PROBE[category]]
    calls = expected_calls(case)
    scored = judge(case, output(calls + calls[:1]))
    assert not scored.correct and "Wrong number of functions" in scored.detail


@pytest.mark.parametrize("category", CHECKED)
def test_wrong_function_name(cases, category):
    case = cases[PROBE[category]]
    calls = expected_calls(case)
    calls[0] = (calls[0][0] + "_v2", calls[0][1])
    scored = judge(case, output(calls))
    assert not scored.correct and scored.detail


@pytest.mark.parametrize("category", ["parallel", "parallel_multiple"])
def test_parallel_order_is_free_but_every_call_counts(cases, category):
    case = cases[PROBE[category]]
    calls = expected_calls(case)
    assert len(calls) == 2 and calls[0] != calls[1]
    assert judge(case, output(calls[::-1])).correct
    scored = judge(case, output(calls[:1]))
    assert not scored.correct and "Wrong number of functions" in scored.detail


@pytest.mark.parametrize("category", CHECKED)
def test_no_call_where_one_is_expected(cases, category):
    case = cases[PROBE[category]]
    scored = judge(case, "I think the answer is 42.")
    assert not scored.correct and scored.detail == "no tool call"
    scored = judge(case, "<tool_call>\n{not json at all\n</tool_call>")
    assert not scored.correct and scored.detail.startswith("no tool call; ") and "not valid JSON" in scored.detail


def test_irrelevance(cases):
    case = cases["irrelevance_0"]
    assert judge(case, "<think>\nNo tool fits.\n</think>\nI cannot compute that with these tools.").correct
    assert judge(case, "").correct
    assert judge(case, "<tool_call>\n{garbage\n</tool_call>").correct  # an undecodable call is no call
    name = case.tools[0]["function"]["name"]
    scored = judge(case, output([(name, {"weight": 70, "height": 1.8})]))
    assert not scored.correct and name in scored.detail


def test_relevance_needs_any_call():
    case = bfcl.load_cases(["live_relevance"])[0]
    assert case.meta["ground_truth"] is None
    assert judge(case, output([(case.tools[0]["function"]["name"], {})])).correct
    assert not judge(case, "No call.").correct


def test_java_and_javascript_take_source_literals():
    java = bfcl.load_cases(["simple_java"])[0]
    args = {"controller": "mapController", "parent": "mapArea"}
    assert judge(java, output([("GeometryPresentation.createPresentation", args)])).correct
    js = bfcl.load_cases(["simple_javascript"])[0]
    assert js.tools[0]["function"]["parameters"]["properties"]["isComplete"]["type"] == "string"  # BFCL's JS hint
    assert judge(js, output([("validateUserInput", {"inputField": "userInputField", "isComplete": "true"})])).correct
    scored = judge(js, output([("validateUserInput", {"inputField": "userInputField", "isComplete": True})]))
    assert not scored.correct and "type_error:js" in scored.detail


ODD_VALUES = [None, [], {}, [[1, [2]]], {"a": {"b": [None]}}, [{"x": 1}, 3], 10**40, -1.5e308, "", "x" * 1000, True]


@pytest.mark.parametrize("category", [*CHECKED, "simple_java", "simple_javascript", "live_multiple"])
def test_scoring_never_raises_on_odd_values(category):
    for case in bfcl.load_cases([category], limit=25):
        for fn in case.meta["function"][:2]:
            names = list(fn["parameters"]["properties"])
            for value in ODD_VALUES:
                judge(case, output([(fn["name"], dict.fromkeys(names, value))]))
                judge(case, output([(fn["name"], {n: [value] for n in names})] * 2))


def test_checker_exceptions_become_a_failed_score(cases, monkeypatch):
    language = bfcl._checker()[1]

    def broken(**_):
        raise KeyError("boom")

    monkeypatch.setattr(bfcl, "_checker", lambda: (broken, language))
    case = cases["simple_python_0"]
    scored = judge(case, output(expected_calls(case)))
    assert not scored.correct and "checker raised KeyError" in scored.detail


def test_the_checker_runs_without_the_vendor_sdks():
    import sys

    bfcl._checker()
    stand_in = sys.modules["bfcl_eval.constants.model_config"]
    assert stand_in.MODEL_CONFIG_MAPPING["any/model"].underscore_to_dot is False  # the real mapping would raise


# ---------------------------------------------------------------------------------------------- dev/test split


def test_split_is_a_stable_hash_of_the_id_about_a_third_dev():
    import hashlib

    from smolthink.eval.cases import split_of

    for case_id in ("simple_python_0", "irrelevance_17", "gym/gcd/7000000:3"):
        dev = int(hashlib.sha256(case_id.encode()).hexdigest(), 16) % 3 == 0
        assert split_of(case_id) == ("dev" if dev else "test")
    sizes = {s: bfcl.split_sizes(bfcl.DEFAULT_CATEGORIES, s) for s in ("dev", "test", "all")}
    for category in bfcl.DEFAULT_CATEGORIES:
        dev, test, total = (sizes[s][category] for s in ("dev", "test", "all"))
        assert dev + test == total and 0.25 < dev / total < 0.42, (category, dev, total)


def test_load_cases_by_split_partitions_each_category(cases):
    dev = bfcl.load_cases(["simple_python", "irrelevance"], split="dev")
    test = bfcl.load_cases(["simple_python", "irrelevance"], split="test")
    every = [c for c in cases.values() if c.category in ("simple_python", "irrelevance")]
    assert not {c.id for c in dev} & {c.id for c in test}
    assert {c.id for c in dev} | {c.id for c in test} == {c.id for c in every}
    assert len(dev) == sum(bfcl.split_sizes(["simple_python", "irrelevance"], "dev").values())
    # --limit takes a fixed hash-chosen sample of the split (not its first N), in file order, whatever else is asked
    first = bfcl.load_cases(["simple_python"], split="test", limit=5)
    in_test = [c.id for c in test if c.category == "simple_python"]
    assert set(c.id for c in first) <= set(in_test) and len(first) == 5
    assert [c.id for c in first] == sorted((c.id for c in first), key=in_test.index)
    assert [c.id for c in first] != in_test[:5]
    wider = [c.id for c in bfcl.load_cases(["simple_python"], split="test", limit=50)]
    assert set(c.id for c in first) <= set(wider)  # a bigger sample contains the smaller one
    positions = [in_test.index(i) for i in wider]
    assert max(positions) > len(in_test) * 0.8 and min(positions) < len(in_test) * 0.2  # spread over the file
    assert [c.id for c in bfcl.load_cases(["irrelevance", "simple_python"], split="test", limit=5)
            if c.category == "simple_python"] == [c.id for c in first]
    with pytest.raises(ValueError, match="valid splits"):
        bfcl.load_cases(["simple_python"], split="train")
