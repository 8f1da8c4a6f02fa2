"""`smolthink distill` over real HTTP on 127.0.0.1: a scripted fault-injecting teacher (tests/distill_server.py),
`smolthink serve` on the tiny model, and the tiny model in-process; the verifiers on hand-written answers."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from distill_server import TeacherServer
from test_serve import serving
from typer.testing import CliRunner

from smolthink.config import ConfigError
from smolthink.data.filters import check as data_filters
from smolthink.distill import DistillError, distill, load_distilled, load_recipe
from smolthink.distill.prompts import SEARCH_INSTRUCTION, Prompt, prompts
from smolthink.distill.recipe import DATA_BUILD_REASONING_WORDS, TRAINING_SEED_LIMIT, recipe_from_dict
from smolthink.distill.teacher import read_message
from smolthink.distill.verify import Verdict, _calls, check_reply, select, verify
from smolthink.formats import tool_call
from smolthink.llama_server import free_port

ROOT = Path(__file__).resolve().parents[1]
GYM = {"name": "gym", "type": "reasoning-gym", "n": 4, "seed": 11, "tasks": ["chain_sum", "gcd"]}
TOOLS = {"name": "tools", "type": "synthetic-tools", "n": 9, "seed": 11}  # one prompt of each of the nine kinds
SEARCH = {"name": "search", "type": "search", "questions": [
    {"id": "first-ferry", "question": "When does the first ferry leave the mainland?", "facts": ["08:15"]},
    {"id": "ferry", "question": "When does the ferry leave the mainland?"},
    {"id": "wifi", "question": "What is the wifi password of the lighthouse museum?", "answerable": False}]}
CHAT = {"name": "chat", "type": "instructions", "n": 12, "seed": 11}  # plain chat with IFEval instructions


LATER = "http://127.0.0.1:1/v1"  # replaced by the test server's URL once it runs


def make_recipe(url: str | None, sources: list[dict], *, teacher: dict | None = None, **top):
    base = {"model": "teacher", "url": url, "samples": 1, "timeout_s": 10, "retries": 2, "backoff_s": 0.01}
    return recipe_from_dict({"name": "test", "teacher": {**base, **(teacher or {})}, "prompts": sources, **top})


def right_answer(p: Prompt) -> dict:
    """What a perfect teacher says to a prompt."""
    if p.kind == "reasoning-gym":
        return {"reasoning": "Work it out step by step.", "content": f"The answer is {p.metadata['answer']}."}
    if p.kind == "synthetic-tools":
        calls = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in p.check["calls"]]
        return {"reasoning": "Compare the offered tools.", "content": "" if calls else "None of my tools can do that.",
                "tool_calls": calls}
    if p.kind == "search":
        content = {"first-ferry": "The first ferry leaves the mainland at 08:15.",
                   "ferry": "It leaves at 08:15, 12:30 and 17:45.",
                   "wifi": "The password was not found in the documents."}[p.id.split("/", 1)[1]]
        return {"reasoning": "Read the passages.", "content": content}
    return {"reasoning": "Think.", "content": f"The answer is {p.check.get('answer')}."}


def perfect_teacher(recipe) -> TeacherServer:
    """A scripted server answering every prompt of the recipe right (matched by its first user message)."""
    answers = {}
    for spec in recipe.prompts:
        for p in prompts(spec):
            if isinstance(p, Prompt):
                answers[p.messages[0]["content"]] = right_answer(p)

    def answer(body):
        return answers[next(m["content"] for m in body["messages"] if m["role"] == "user")]

    return TeacherServer(answer)


def lines(folder: Path, name: str) -> list[dict]:
    path = folder / name
    if not path.exists():
        return []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{name} ends in a partial line"
    return [json.loads(line) for line in data.splitlines()]


def sample_keys(folder: Path) -> list[tuple[str, int]]:
    rows = lines(folder, "distilled.jsonl") + lines(folder, "rejected.jsonl")
    return [(r["prompt_id"], r["sample"]) for r in rows]


@pytest.fixture(scope="module")
def planned() -> dict[str, list[Prompt]]:
    return {s["name"]: list(prompts(make_recipe(LATER, [s]).prompts[0])) for s in (GYM, TOOLS, SEARCH)}


def message(content: str = "", reasoning: str | None = "Because.", calls: list | None = None) -> dict:
    m = {"role": "assistant", "content": content, "reasoning": reasoning}
    if calls:
        m["tool_calls"] = calls
    return m


# ---------------------------------------------------------------------------------------------------- verifiers


def test_gym_verifier_scores_the_final_answer(planned):
    p = planned["gym"][0]
    answer = p.metadata["answer"]
    assert verify(p, message(f"The answer is {answer}.")).ok
    wrong = verify(p, message(f"The answer is {int(answer) + 1}."))
    assert not wrong.ok and wrong.reason == "wrong answer"


def test_tool_verifier_wants_the_right_call_or_none(planned):
    by_kind = {p.task: p for p in planned["tools"]}
    single = by_kind["single"]
    (right,) = single.check["calls"]
    assert verify(single, message(calls=[right])).ok
    name, args = right["function"]["name"], dict(right["function"]["arguments"])
    key = next(iter(args))
    args[key] = args[key] + 1 if isinstance(args[key], (int, float)) else "Atlantis"
    wrong = verify(single, message(calls=[tool_call(name, args)]))
    assert not wrong.ok and wrong.reason == "wrong call"
    assert verify(single, message("I won't call anything.")).reason == "no call"

    irrelevant = by_kind["irrelevance"]
    assert irrelevant.check["calls"] == [] and irrelevant.tools
    offered = irrelevant.tools[0]["function"]["name"]
    called = verify(irrelevant, message(calls=[tool_call(offered, {})]))
    assert not called.ok and called.reason == "call on irrelevance"
    assert verify(irrelevant, message("None of my tools can do that.")).ok

    parallel = by_kind["parallel"].check["calls"]
    assert len(parallel) >= 2 and verify(by_kind["parallel"], message(calls=parallel[::-1])).ok  # order-free


def test_instructions_source_is_plain_chat_verified_by_if_verifiable():
    from smolthink.data.sources import plain_chat

    (spec,) = make_recipe(LATER, [CHAT]).prompts
    items = list(prompts(spec))
    rows = plain_chat.training_prompts(CHAT["n"], seed=CHAT["seed"])
    assert [p.messages for p in items] == [[{"role": "user", "content": r["prompt"]}] for r in rows]
    assert all(p.kind == "instructions" and not p.tools and p.id == f"chat/{r['id']}" for p, r in zip(items, rows))
    p = dataclasses.replace(items[0], check={"instructions": [{"id": "change_case:english_lowercase", "kwargs": {}}]})
    assert verify(p, message("a cat naps in the sun.", None)).ok
    for reply, reason in ((message("A cat naps in the sun.", None), "instruction not followed"),
                          (message("", None), "empty answer"),
                          (message("i need no tool for this.", None), "tool talk"),
                          (message("", None, [tool_call("web_search", {"query": "cats"})]), "unexpected tool call")):
        assert verify(p, reply).reason == reason
    for change in ({"seed": 7_400_000}, {"kinds": ["single"]}, {"n": None}):
        with pytest.raises(ConfigError, match="seed|kinds|needs n"):
            make_recipe(LATER, [{**CHAT, **change}])


def test_tool_arguments_normalize_and_defaults_count_as_given():
    right = [tool_call("get_weather", {"city": "Paris"})]
    assert _calls(right, [tool_call("get_weather", {"city": " paris "})]).ok
    assert _calls(right, [tool_call("get_weather", {"city": "Paris", "unit": "celsius"})]).ok  # the default
    assert not _calls(right, [tool_call("get_weather", {"city": "Paris", "unit": "fahrenheit"})]).ok
    assert _calls([tool_call("calculate_tip", {"bill_amount": 40, "tip_percent": 15})],
                  [tool_call("calculate_tip", {"bill_amount": 40.0})]).ok


def test_every_call_must_validate_against_its_schema(planned):
    single = next(p for p in planned["tools"] if p.task == "single")
    name = single.tools[0]["function"]["name"]
    bad = message(calls=[tool_call(name, {"no_such_argument": 1})])
    options = dict(think=True, require_reasoning=True, budget=256, max_turns=32, finish_reason="stop")
    assert check_reply(single, bad, **options).reason == "tool arguments invalid"
    assert check_reply(single, message(calls=[tool_call("rm_rf", {})]), **options).reason == "call to undeclared tool"


def test_search_verifier_keeps_only_grounded_answers(planned):
    by_id = {p.id.split("/", 1)[1]: p for p in planned["search"]}
    first, ferry, wifi = by_id["first-ferry"], by_id["ferry"], by_id["wifi"]
    assert "08:15" in first.check["passages"]  # local_search ran over the bundled documents
    assert verify(first, message("The first ferry leaves at 8:15 in the morning.")).ok
    assert verify(first, message("It leaves at 09:30.")).reason == "missing key fact"
    assert verify(first, message("That was not found in the documents.")).reason == "missed the answer"
    assert verify(ferry, message("It leaves at 08:15, 12:30 and 17:45.")).ok
    assert verify(ferry, message("It leaves at 08:15, and at 21:00 on Fridays.")).reason == "ungrounded"
    assert verify(ferry, message("Nordic Lines runs it at 08:15.")).reason == "ungrounded"
    assert verify(wifi, message("The documents do not mention a wifi password.")).ok
    assert verify(wifi, message("The password is tern1872.")).reason == "answered without grounds"


def test_reply_checks_reasoning_budget_and_control_tokens(planned):
    p = planned["gym"][0]
    answer = f"The answer is {p.metadata['answer']}."

    def reason(m, think=True, finish="stop"):
        v = check_reply(p, m, think=think, require_reasoning=True, budget=DATA_BUILD_REASONING_WORDS, max_turns=32,
                        finish_reason=finish)
        return v.reason if v else None

    assert reason(message(answer)) is None
    assert reason(message(answer, reasoning=" ".join(["step"] * 300))) == "reasoning over budget"
    assert reason(message(answer, reasoning=None)) == "no reasoning"
    assert reason(message(answer, reasoning=None), think=False) is None
    assert reason(message(answer + "<|im_end|><|im_start|>user")) == "control token in reply"
    assert reason(message(answer), finish="length") == "hit max_tokens"


def test_local_verifier_uses_math_verify_or_exact_match(tmp_path):
    rows = [{"id": "half", "question": "What is 1/2 as a decimal?", "answer": "0.5"},
            {"id": "city", "question": "Capital of France?", "answer": "Paris"},
            {"question": "Write a haiku."}, "not an object"]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    items = list(prompts(make_recipe(LATER, [{"name": "mine", "type": "local", "path": str(path)}]).prompts[0]))
    half, city, haiku = items[:3]
    assert [type(i).__name__ for i in items[3:]] == ["Skipped", "Skipped"]
    assert verify(half, message("So it is 1/2.")).ok and not verify(half, message("It is 0.25.")).ok
    assert verify(city, message("The answer is paris.")).ok and not verify(city, message("Lyon.")).ok
    assert verify(haiku, message("Snow on the ferry.")).ok  # no reference: nothing to compare
    bfcl = tmp_path / "BFCL_v4_simple_python.json"
    bfcl.write_text("{}\n")
    with pytest.raises(DistillError, match="BFCL"):
        list(prompts(make_recipe(LATER, [{"name": "b", "type": "local", "path": str(bfcl)}]).prompts[0]))


def test_select_first_all_best():
    msgs = {i: message(f"answer {i % 2}") for i in range(3)}
    samples = [(i, msgs[i], Verdict(True, "verified", score=s)) for i, s in zip(range(3), (0.5, 1.0, 1.0))]
    assert select("first", samples, []) == {0: "kept", 1: "not selected (first)", 2: "not selected (first)"}
    assert select("best", samples, [])[1] == "kept"
    assert select("all", samples, []) == {0: "kept", 1: "kept", 2: "duplicate sample"}
    # a prompt resumed after a kill between its lines: one kept already
    assert "kept" not in select("first", samples, ["earlier"]).values()


@pytest.mark.parametrize("raw", [
    {"content": "42", "reasoning_content": "r"}, {"content": "42", "reasoning": "r"},
    {"content": "42", "thinking": "r"}, {"content": "<think>\nr\n</think>\n\n42"}, {"content": "r\n</think>\n\n42"}])
def test_reasoning_is_read_from_every_spelling(raw):
    msg, problems = read_message(raw)
    assert (msg["reasoning"], msg["content"], problems) == ("r", "42", [])


def test_tool_calls_are_read_native_or_from_text():
    native, problems = read_message({"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]})
    text, _ = read_message({"content": '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>'})
    assert native["tool_calls"] == text["tool_calls"] == [tool_call("f", {"x": 1})] and not problems
    _, problems = read_message({"content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]})
    assert problems and "not valid JSON" in problems[0]


# -------------------------------------------------------------------------------------------- recipes, errors


@pytest.mark.parametrize("path", sorted((ROOT / "recipes/distill").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_distill_recipe_loads_and_plans(path):
    recipe = load_recipe(path)
    assert recipe.teacher.model
    for spec in recipe.prompts:
        items = list(prompts(spec, limit=4))
        assert any(isinstance(i, Prompt) for i in items), spec.name
        assert {i.reason for i in items if not isinstance(i, Prompt)} <= {"evaluation question"}


def test_self_distill_recipe_is_the_tuned_model_on_verifiable_prompts():
    recipe = load_recipe(ROOT / "recipes/distill/self-135m.yaml")
    assert recipe.teacher.url is None and recipe.teacher.model == "runs/smolthink-135m"
    assert recipe.teacher.samples > 1 and {p.type for p in recipe.prompts} == {"reasoning-gym", "synthetic-tools"}


def test_plain_chat_recipe_is_the_embedded_model_without_thinking():
    recipe = load_recipe(ROOT / "recipes/distill/plain-chat-135m.yaml")
    t = recipe.teacher
    assert t.url is None and t.model == "smollm2-135m" and not t.think and t.samples == 2 and t.max_tokens <= 256
    assert [(p.type, p.n) for p in recipe.prompts] == [("instructions", 900)]


def test_constants_agree_with_data_build_and_eval():
    from smolthink.data.recipe import DataRecipe
    from smolthink.eval import reasoning

    default = next(f.default for f in dataclasses.fields(DataRecipe) if f.name == "reasoning_words")
    assert DATA_BUILD_REASONING_WORDS == default
    assert TRAINING_SEED_LIMIT == reasoning.TRAINING_SEED_LIMIT


def test_recipe_mistakes_name_the_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "teacher": {"modle": "m"}, "prompts": [GYM]}))
    with pytest.raises(ConfigError, match=r"unknown key 'modle'; did you mean 'model'\?"):
        load_recipe(path)
    path.write_text(yaml.safe_dump({"name": "x", "teacher": {"model": "m", "url": "http://h/v1", "api_key": "sk-1"},
                                    "prompts": [GYM]}))
    with pytest.raises(ConfigError, match="api_key_env"):
        load_recipe(path)
    for change, match in ((["teacher.samples=4", "teacher.temperature=0"], "temperature"),
                          ([f"prompts.0.seed={7_000_000}"], "evaluation"), (["prompts.0.kinds=[single]"], "kinds"),
                          (["keep.selct=all"], "did you mean 'select'")):
        path.write_text(yaml.safe_dump({"name": "x", "teacher": {"model": "m"}, "prompts": [GYM]}))
        with pytest.raises(ConfigError, match=match):
            load_recipe(path, change)


# ---------------------------------------------------------------------------------------------- over HTTP


def test_end_to_end_against_a_perfect_teacher(tmp_path, tmp_path_factory):
    recipe = make_recipe(LATER, [GYM, TOOLS, SEARCH], teacher={"samples": 2}, keep={"select": "all"})
    server = perfect_teacher(recipe)
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        summary = distill(recipe, tmp_path)
    kept, rejected = lines(tmp_path, "distilled.jsonl"), lines(tmp_path, "rejected.jsonl")
    n = GYM["n"] + TOOLS["n"] + len(SEARCH["questions"])
    assert len(kept) == n and len(rejected) == n  # the second sample says the same: a duplicate
    assert {r["reason"] for r in rejected} == {"duplicate sample"}
    assert sorted(sample_keys(tmp_path)) == sorted((r["prompt_id"], s) for r in kept for s in (0, 1))
    assert summary["complete"] and all(e["pass_rate"] == 1.0 for e in summary["sources"].values())
    assert json.loads((tmp_path / "summary.json").read_text())["totals"]["kept"] == n
    for row in kept:
        assert row["metadata"]["teacher"].startswith("teacher @ http://127.0.0.1")
        assert row["messages"][-1]["role"] == "assistant" and row["messages"][-1]["reasoning"]
        assert all(SEARCH_INSTRUCTION not in (m.get("content") or "") for m in row["messages"])  # teacher-only
    calls = [r for r in kept if r["task"] == "single"][0]["messages"][-1]["tool_calls"]
    assert isinstance(calls[0]["function"]["arguments"], dict)
    seeds = [b["seed"] for b in server.bodies]
    assert len(set(seeds)) == len(seeds)  # k samples of a prompt are not k copies of one
    assert all(b["chat_template_kwargs"] == {"enable_thinking": True} for b in server.bodies)
    assert any(b.get("tools") for b in server.bodies)
    examples = list(load_distilled(tmp_path, "distilled", None))
    assert len(examples) == n and all(data_filters(e, budget=256, max_turns=32) is None for e in examples)
    assert examples[0].row_id == f"{kept[0]['prompt_id']}#{kept[0]['sample']}"
    # `data build` takes the folder as a source and mixes it like any other: every kept line becomes an example
    from smolthink.data.build import build
    from smolthink.data.recipe import load_recipe as load_data_recipe

    data_recipe = tmp_path_factory.mktemp("recipe") / "mix.yaml"
    data_recipe.write_text(json.dumps({
        "name": "mix", "validation": 0, "tokenizer": "smollm2-135m", "dedup": {"near": False},
        "sources": [{"name": "teacher", "type": "distilled", "path": str(tmp_path)},
                    {"name": "synthetic", "type": "synthetic-reasoning", "n": 5, "seed": 1}],
        "phases": [{"name": "phase1", "window": 2048, "stride": 512}]}))
    manifest = build(load_data_recipe(data_recipe, []), tmp_path_factory.mktemp("built") / "mix")
    assert manifest["quarantined"] == 0
    assert manifest["splits"]["train"] == n + 5


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_faults_are_retried_and_nothing_corrupt_is_written(tmp_path, stream):
    recipe = make_recipe(LATER, [{**GYM, "n": 1}], teacher={"stream": stream, "timeout_s": 0.5, "retries": 6})
    server = perfect_teacher(recipe)
    server.slow_s = 1.2
    server.faults = ["429", "500", "badjson", "nofields", "truncated", "slow"]
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        summary = distill(recipe, tmp_path)
    assert server.requests == 7 and summary["run"]["failed_requests"] == 0
    (row,) = lines(tmp_path, "distilled.jsonl")
    assert row["metadata"]["verdict"] == "verified" and lines(tmp_path, "rejected.jsonl") == []
    if stream:
        assert server.bodies[0]["stream"] is True and row["metadata"]["completion_tokens"] == 7


def test_empty_reasoning_and_refused_requests_are_rejected_with_reasons(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 2}])
    server = perfect_teacher(recipe)
    server.faults = ["empty_reasoning", "400"]
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        distill(recipe, tmp_path)
    reasons = sorted((r["reason"], r["detail"]) for r in lines(tmp_path, "rejected.jsonl"))
    assert reasons[0][0] == "no reasoning"
    assert reasons[1][0] == "request refused" and "too long for the context window" in reasons[1][1]


def test_consecutive_failures_stop_the_run_with_the_url_and_last_error(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 6}], teacher={"retries": 1, "max_consecutive_failures": 3},
                         concurrency=1)
    server = perfect_teacher(recipe)
    server.faults = [None, None] + ["500"] * 100  # two good answers, then the server breaks
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        with pytest.raises(DistillError, match=r"3 requests in a row to http://127\.0\.0\.1:\d+/v1 failed.*HTTP 500: "
                                               r"the GPU caught fire"):
            distill(recipe, tmp_path)
    assert len(lines(tmp_path, "distilled.jsonl")) == 2 and lines(tmp_path, "rejected.jsonl") == []
    assert server.requests == 2 + 3 * 2  # each failed request tried twice, then the circuit opened
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run"]["failed_requests"] == 3 and not summary["complete"]


@pytest.mark.parametrize("field,stream", [("reasoning", True), ("thinking", False), ("inline", True)])
def test_every_servers_reasoning_field_reaches_the_data(tmp_path, field, stream):
    recipe = make_recipe(LATER, [{**GYM, "n": 1}], teacher={"stream": stream})
    server = perfect_teacher(recipe)
    server.reasoning_field = field
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        distill(recipe, tmp_path)
    (row,) = lines(tmp_path, "distilled.jsonl")
    assert row["messages"][-1]["reasoning"] == "Work it out step by step."
    assert row["messages"][-1]["content"].startswith("The answer is")


def test_think_off_asks_for_no_thinking_and_keeps_none(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 1}], teacher={"think": False})
    server = perfect_teacher(recipe)  # it reasons anyway
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        distill(recipe, tmp_path)
    (row,) = lines(tmp_path, "distilled.jsonl")
    assert server.bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert row["messages"][-1]["reasoning"] is None


def test_instructions_end_to_end_keeps_exactly_the_answers_that_follow(tmp_path):
    from smolthink.data.sources import plain_chat

    recipe = make_recipe(LATER, [CHAT], teacher={"think": False})
    reply = "a cat naps quietly in the warm sun."  # follows some instructions (lowercase, no comma), not others
    server = TeacherServer(lambda body: {"reasoning": None, "content": reply})
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        summary = distill(recipe, tmp_path)
    kept, rejected = lines(tmp_path, "distilled.jsonl"), lines(tmp_path, "rejected.jsonl")
    wanted = {f"chat/{r['id']}" for r in plain_chat.training_prompts(CHAT["n"], seed=CHAT["seed"])
              if plain_chat.verify(reply, r["instructions"])[0]}
    assert wanted and len(wanted) < CHAT["n"]  # the scripted reply passes some prompts and fails others
    assert {r["prompt_id"] for r in kept} == wanted and len(kept) + len(rejected) == CHAT["n"]
    assert {r["reason"] for r in rejected} == {"instruction not followed"}
    assert all(not b.get("tools") and b["chat_template_kwargs"] == {"enable_thinking": False} for b in server.bodies)
    assert all(r["messages"][-1] == {"role": "assistant", "content": reply, "reasoning": None} for r in kept)
    assert summary["sources"]["chat"]["kept"] == len(wanted)


def test_judge_grades_verified_samples_against_a_threshold(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 2}], teacher={"samples": 2}, keep={
        "select": "best", "judge": {"url": LATER, "model": "judge", "rubric": "Short and right.", "threshold": 7}})
    teacher = perfect_teacher(recipe)
    grades = iter(["Grade: 9", "6", "3", "no idea"])
    judge = TeacherServer(lambda body: {"reasoning": None, "content": next(grades)})
    with serving(teacher.app) as url, serving(judge.app) as judge_url:
        recipe.teacher.url, recipe.keep.judge.url = url + "/v1", judge_url + "/v1"
        distill(recipe, tmp_path)
    kept, rejected = lines(tmp_path, "distilled.jsonl"), lines(tmp_path, "rejected.jsonl")
    assert judge.requests == 4 and "Short and right." in judge.bodies[0]["messages"][-1]["content"]
    assert [r["metadata"]["check"].split("; ")[-1] for r in kept] == ["judge grade 9"]
    assert sorted(r["reason"] for r in rejected) == ["judge below threshold", "judge below threshold",
                                                     "judge gave no grade"]


def test_unknown_model_stops_with_the_servers_message(tmp_path):
    recipe = make_recipe(LATER, [GYM], teacher={"model": "nope"})
    server = perfect_teacher(recipe)
    server.always = "404"
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        with pytest.raises(DistillError, match="HTTP 404: The model `nope` does not exist"):
            distill(recipe, tmp_path)
    assert server.requests <= recipe.concurrency  # not retried


def test_unreachable_url_fails_at_once(tmp_path):
    recipe = make_recipe(f"http://127.0.0.1:{free_port()}/v1", [GYM])
    with pytest.raises(DistillError, match="cannot reach the teacher at http://127.0.0.1"):
        distill(recipe, tmp_path)


def test_key_and_extra_body_reach_the_server(tmp_path, monkeypatch):
    extra = {"reasoning_format": "deepseek", "chat_template_kwargs": None}  # null removes a key smolthink sends
    recipe = make_recipe(LATER, [{**GYM, "n": 1}], teacher={"api_key_env": "DISTILL_TEST_KEY", "extra_body": extra})
    server = perfect_teacher(recipe)
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        monkeypatch.delenv("DISTILL_TEST_KEY", raising=False)
        with pytest.raises(DistillError, match="DISTILL_TEST_KEY is not set"):
            distill(recipe, tmp_path)
        monkeypatch.setenv("DISTILL_TEST_KEY", "secret-1")
        distill(recipe, tmp_path)
    assert server.headers[-1]["authorization"] == "Bearer secret-1"
    assert "secret-1" not in (tmp_path / "recipe.json").read_text()
    assert server.bodies[-1]["reasoning_format"] == "deepseek" and "chat_template_kwargs" not in server.bodies[-1]


def test_concurrency_bound_holds(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 6}], teacher={"samples": 2}, concurrency=3)
    server = perfect_teacher(recipe)
    server.delay_s = 0.2
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        distill(recipe, tmp_path)
    assert server.requests == 12 and server.max_in_flight == 3


def test_rerun_resumes_extends_and_refuses_a_different_recipe(tmp_path):
    recipe = make_recipe(LATER, [{**GYM, "n": 3}], teacher={"samples": 2})
    server = perfect_teacher(make_recipe(LATER, [{**GYM, "n": 5}]))
    with serving(server.app) as url:
        recipe.teacher.url = url + "/v1"
        distill(recipe, tmp_path)
        assert server.requests == 6
        again = distill(recipe, tmp_path)
        assert server.requests == 6 and again["run"]["resumed_samples"] == 6 and again["complete"]
        recipe.prompts[0].n = 5  # a larger n extends the run
        distill(recipe, tmp_path)
        assert server.requests == 10 and len(sample_keys(tmp_path)) == len(set(sample_keys(tmp_path))) == 10
        recipe.teacher.temperature = 0.9
        with pytest.raises(DistillError, match=r"different recipe \(teacher.temperature: 0.7 -> 0.9\).*--overwrite"):
            distill(recipe, tmp_path)
        distill(recipe, tmp_path, overwrite=True)
        assert len(sample_keys(tmp_path)) == 10 and server.requests == 20


def recipe_file(tmp_path: Path, recipe, url: str, *, concurrency: int | None = None,
                teacher: dict | None = None) -> Path:
    """The recipe as a YAML file for `smolthink distill`, pointed at the test server; `teacher` keys are written
    into its teacher section as they are (a typo included)."""
    data = dataclasses.asdict(recipe)
    data["teacher"].update(url=url + "/v1", **(teacher or {}))
    if concurrency is not None:
        data["concurrency"] = concurrency
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_sigkill_mid_run_then_rerun_has_every_sample_exactly_once(tmp_path):
    spec = {**GYM, "n": 40}
    recipe = make_recipe(LATER, [spec], teacher={"samples": 2})
    ids = [p.id for p in prompts(recipe.prompts[0]) if isinstance(p, Prompt)]  # an eval question or so is skipped
    server = perfect_teacher(recipe)
    server.delay_s = 0.05
    out = tmp_path / "out"
    with serving(server.app) as url:
        path = recipe_file(tmp_path, recipe, url, concurrency=2)
        with open(tmp_path / "log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "smolthink.cli", "distill", str(path), "--out", str(out)],
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.time() + 120
            while len(sample_keys(out)) < 12 and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, (tmp_path / "log").read_text()  # still running: killed mid-run
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        before = sample_keys(out)  # asserts whole lines only
        assert 12 <= len(before) < 2 * len(ids)
        with open(out / "rejected.jsonl", "ab") as f:  # what a power cut could leave, and this rerun must drop
            f.write(b'{"prompt_id": "gym/11:0", "sam')
        summary = distill(load_recipe(path), out)
    keys = sample_keys(out)
    assert len(keys) == len(set(keys)) == 2 * len(ids)
    assert set(keys) == {(i, s) for i in ids for s in (0, 1)}
    assert summary["run"]["dropped_partial_lines"] == 1 and summary["run"]["resumed_samples"] == len(before)
    assert summary["complete"] and len(lines(out, "distilled.jsonl")) == len(ids)  # keep: first, one per prompt


def test_ctrl_c_stops_at_once_with_requests_in_flight(tmp_path):
    """SIGINT (Ctrl-C) while every request waits on a slow teacher: the run stops within seconds, says so, exit 130,
    and what it wrote stays whole."""
    recipe = make_recipe(LATER, [{**GYM, "n": 20}], teacher={"samples": 2})
    server = perfect_teacher(recipe)
    server.delay_s = 120.0  # far past the test: only a prompt stop ends the run in time
    out = tmp_path / "out"
    with serving(server.app) as url:
        path = recipe_file(tmp_path, recipe, url, concurrency=4)
        proc = subprocess.Popen([sys.executable, "-m", "smolthink.cli", "distill", str(path), "--out", str(out)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while server.in_flight < 4 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert server.in_flight == 4, proc.stdout.read().decode() if proc.poll() is not None else "no requests"
        proc.send_signal(signal.SIGINT)
        started = time.time()
        try:
            output = proc.communicate(timeout=15)[0].decode()
        finally:
            proc.kill()
        assert time.time() - started < 15
    assert proc.returncode == 130 and "interrupted" in output, output
    assert sample_keys(out) == []  # nothing finished, nothing half-written


def test_cli_runs_a_recipe_and_reports_typos(tmp_path):
    from smolthink.cli import app

    recipe = make_recipe(LATER, [{**GYM, "n": 2}])
    server = perfect_teacher(recipe)
    runner = CliRunner()
    with serving(server.app) as url:
        path = recipe_file(tmp_path, recipe, url)
        result = runner.invoke(app, ["distill", str(path), "--out", str(tmp_path / "o"), "--concurrency", "2",
                                     "--limit", "1"])
        assert result.exit_code == 0, result.output
        assert "1 kept" in result.output and "gym" in result.output and server.requests == 1
        result = runner.invoke(app, ["distill", str(path), "--out", str(tmp_path / "o")])  # resumes: one more
        assert result.exit_code == 0 and "2 kept" in result.output and server.requests == 2
        path = recipe_file(tmp_path, recipe, url, teacher={"temprature": 0.5})
        result = runner.invoke(app, ["distill", str(path)])
        assert result.exit_code == 2 and "did you mean 'temperature'" in result.output


# ------------------------------------------------------------------------------------- the tiny model as teacher


@pytest.fixture(scope="module")
def ending_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny random model, with its end-of-turn token made likely enough that about half its sampled replies end
    within 24 tokens (the plain one never stops, so every reply would be cut at max_tokens)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from smolthink.formats import render

    out = tmp_path_factory.mktemp("tiny-ending")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = render([{"role": "user", "content": "Say hello."}], enable_thinking=False, add_generation_prompt=True)
    with torch.no_grad():
        hidden = model(**tokenizer(prompt, return_tensors="pt", add_special_tokens=False),
                       output_hidden_states=True).hidden_states[-1][0].mean(0)
        model.model.embed_tokens.weight[2] = 2.4 * hidden / hidden.norm() ** 2  # tied: also the <|im_end|> logit
    model.save_pretrained(out)
    return out


def _questions(tmp_path: Path) -> dict:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": q}) + "\n"
                            for i, q in enumerate(("Tell me about the sea.", "Name a colour.", "Say hello."))))
    return {"name": "open", "type": "local", "path": str(path), "check": "none"}


def _check_tiny_run(out: Path) -> None:
    keys = sample_keys(out)
    assert sorted(keys) == sorted((f"open/q{i}", s) for i in range(3) for s in (0, 1))
    for row in lines(out, "rejected.jsonl"):
        assert row["reason"]
    examples = list(load_distilled(out, "tiny", None))
    assert examples and len(examples) == len(lines(out, "distilled.jsonl"))
    for example in examples:
        assert data_filters(example, budget=256, max_turns=32) is None  # what data build would accept


def test_smolthink_serve_on_the_tiny_model_as_teacher(tmp_path, ending_model_dir):
    from smolthink.backends import load_backend
    from smolthink.serve import create_app

    backend = load_backend(str(ending_model_dir), "transformers")
    teacher = {"samples": 2, "temperature": 1.0, "max_tokens": 24, "think": False}
    recipe = make_recipe(LATER, [_questions(tmp_path)], teacher=teacher, keep={"require_reasoning": False})
    with serving(create_app(backend, model_name="tiny", max_tokens_cap=24)) as url:
        recipe.teacher.url = url + "/v1"
        summary = distill(recipe, tmp_path / "out")
    assert summary["totals"]["samples"] == 6
    _check_tiny_run(tmp_path / "out")


def test_in_process_teacher_needs_no_server(tmp_path, ending_model_dir):
    teacher = {"model": str(ending_model_dir), "backend": "transformers", "samples": 2, "temperature": 1.0,
               "max_tokens": 24, "think": False}
    recipe = make_recipe(None, [_questions(tmp_path)], teacher=teacher, keep={"require_reasoning": False})
    summary = distill(recipe, tmp_path / "out")
    assert summary["run"]["teacher"].endswith("(in-process, transformers)") and summary["complete"]
    _check_tiny_run(tmp_path / "out")


def test_load_distilled_reports_bad_lines(tmp_path):
    row = {"id": "a/1#0", "prompt_id": "a/1", "sample": 0, "source": "a", "task": "t", "tools": [], "metadata": {},
           "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "reasoning": "r"}]}
    (tmp_path / "distilled.jsonl").write_bytes((json.dumps(row) + "\n{broken\n" + '{"id": 1}\n' + '{"id"').encode())
    items = list(load_distilled(tmp_path, "d", None))
    assert [type(i).__name__ for i in items] == ["Example", "Rejected", "Rejected", "Rejected"]
    assert [i.reason for i in items[1:]] == ["malformed JSON", "malformed distilled row", "partial line"]
    assert items[0].row_id == "a/1#0" and items[0].metadata["distill_source"] == "a"
    assert len(list(load_distilled(tmp_path, "d", 1))) == 1
    with pytest.raises(Exception, match="not a distill output"):
        load_distilled(tmp_path / "missing", "d", None)
