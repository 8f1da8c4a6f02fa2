"""The data pipeline: recipes, filters, dedup, windows, the build's outputs, and the `smolthink data` commands."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.config import ConfigError
from smolthink.data.build import BuildError, build, iter_source, load_conversations, load_manifest
from smolthink.data.example import Example
from smolthink.data.filters import Deduplicator, check, reasoning_words
from smolthink.data.recipe import load_recipe, recipe_from_dict
from smolthink.data.windows import rolling_windows, tokenize_conversation
from smolthink.formats import tool_call

ROOT = Path(__file__).resolve().parents[2]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def ex(messages, tools=(), row_id="0", source="s"):
    return Example(source=source, row_id=row_id, messages=messages, tools=list(tools))


def chat(q, reasoning, answer):
    return [{"role": "user", "content": q}, {"role": "assistant", "reasoning": reasoning, "content": answer}]


# ------------------------------------------------------------------------------------------------ windows


def test_rolling_windows_arithmetic_and_tail():
    ids = list(range(10))
    mask = [1] * 10
    wins = rolling_windows(ids, mask, window=4, stride=3)
    assert [w for w, _ in wins] == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    wins = rolling_windows(ids, mask, window=4, stride=4)
    assert [w for w, _ in wins] == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]  # the tail window aligns to the end
    assert rolling_windows(ids[:3], mask[:3], window=4, stride=1) == [(ids[:3], mask[:3])]  # short: whole


def test_windows_keep_their_loss_positions_and_drop_windows_without_any():
    ids = list(range(12))
    mask = [0] * 8 + [1] * 4
    wins = rolling_windows(ids, mask, window=4, stride=2)
    for w_ids, w_mask in wins:
        assert [i for i, m in zip(w_ids, w_mask) if m] == [i for i in w_ids if i >= 8]
        assert any(w_mask)
    assert [w[0] for w, _ in wins] == [6, 8]  # windows 0-3, 2-5, 4-7 have no loss positions
    with pytest.raises(ValueError):
        rolling_windows(ids, mask, window=0, stride=1)


def test_smolthink_windows_832_104():
    ids, mask = list(range(2000)), [1] * 2000
    wins = rolling_windows(ids, mask, 832, 104)
    starts = [w[0] for w, _ in wins]
    assert starts[:3] == [0, 104, 208] and starts[-1] == 2000 - 832
    assert all(len(w) == 832 for w, _ in wins)


def test_tokenized_mask_matches_transformers_assistant_mask(smollm2_tokenizer):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "reasoning": "Use the tool.", "content": "", "tool_calls": [tool_call("get_weather", {"city": "Paris"})]},
        {"role": "tool", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "reasoning": "Got it.", "content": "Sunny."},
    ]
    ids, mask = tokenize_conversation(smollm2_tokenizer, messages, [WEATHER])
    ref = smollm2_tokenizer.apply_chat_template(messages, tools=[WEATHER], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert ids == ref["input_ids"] and mask == ref["assistant_masks"]
    im_end = smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert sum(1 for t, m in zip(ids, mask) if m and t == im_end) == 2  # each assistant turn learns to stop


# ------------------------------------------------------------------------------------------------ filters


def test_filters_name_the_reason():
    budget = dict(budget=5, max_turns=4)
    assert check(ex(chat("q", "one two three", "a")), **budget) is None
    assert check(ex(chat("q", "one two three four five six", "a")), **budget).reason == "reasoning over budget"
    assert check(ex(chat("q", "r", "a <think> b")), **budget).reason == "unbalanced tags"
    assert check(ex(chat("q", "r", "a") * 3), **budget).reason == "too many turns"
    assert check(ex([{"role": "user", "content": "q"}]), **budget).reason == "no assistant turn"
    assert check(ex([{"role": "user", "content": 3}]), **budget).reason == "invalid conversation"
    call = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [tool_call("get_weather", {"town": "x"})]}]
    assert check(ex(call, [WEATHER]), **budget).reason == "tool arguments invalid"
    assert check(ex(call), **budget).reason == "call to undeclared tool"
    assert reasoning_words(chat("q", "a b c", "x") + chat("q", "a b c d", "y")) == 4


def test_dedup_exact_and_near():
    d = Deduplicator(threshold=0.8)
    long_q = "Please explain in simple words why the sky looks blue on a clear summer day near the sea"
    assert d.check(ex(chat(long_q, "Rayleigh scattering of sunlight by air molecules.", "Because of scattering."), row_id="a")) is None
    again = d.check(ex(chat(long_q, "Rayleigh scattering of sunlight by air molecules.", "Because of scattering."), row_id="b"))
    assert again.reason == "exact duplicate" and "s/a" in again.detail
    near = d.check(ex(chat(long_q + " today", "Rayleigh scattering of sunlight by air molecules.", "Because of scattering."), row_id="c"))
    assert near.reason == "near duplicate"
    assert d.check(ex(chat("What is 2+2?", "Add two and two.", "4"), row_id="d")) is None


# ------------------------------------------------------------------------------------------------ recipes


def test_recipe_errors_name_the_key_and_suggest(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nsources:\n  - {name: a, type: local, path: f.jsonl}\nreasoning_word: 10\n")
    with pytest.raises(ConfigError, match=r"r\.yaml.*unknown key 'reasoning_word'.*did you mean 'reasoning_words'"):
        load_recipe(bad)
    bad.write_text("name: x\nsources:\n  - {name: a, type: lokal, path: f.jsonl}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.type.*'lokal' is not one of"):
        load_recipe(bad)
    bad.write_text("name: x\nsources: [{name: a, type: local}]\n")
    with pytest.raises(ConfigError, match="needs 'path'"):
        load_recipe(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)


def test_generated_knobs_are_checked_where_the_recipe_is_read():
    def recipe(**source):
        return recipe_from_dict({"name": "x", "sources": [{"name": "tools", "type": "synthetic-tools", "n": 4, **source}]})

    spec = recipe(decisions={"none": 1}, result_share=0.25, kinds=["generated"]).sources[0]
    assert spec.decisions == {"none": 1} and spec.result_share == 0.25
    assert {ex.metadata["decision"] for ex in iter_source(spec)} == {"none"}  # the build hands them on
    assert recipe().sources[0].decisions is None  # unset: the generator's defaults
    for source, why in (
        ({"decisions": {"one": -0.1}}, "source 'tools': decisions: the weight of 'one' must be a number >= 0"),
        ({"decisions": {"one": 0, "several": 0, "none": 0}}, "source 'tools': decisions: every weight is 0"),
        ({"decisions": {"some": 1}}, "source 'tools': decisions: unknown decision 'some'; valid: one, several, none"),
        ({"decisions": [0.5, 0.5]}, r"sources\[0\]\.decisions: expected a mapping"),
        ({"result_share": 1.5}, r"source 'tools': result_share must be a fraction in \[0, 1\], got 1.5"),
        ({"result_share": -0.1}, "source 'tools': result_share must be a fraction"),
        ({"result_share": 0.5, "kinds": ["single"]}, "source 'tools': result_share shapes the generated kind"),
        ({"type": "synthetic-reasoning", "decisions": {"one": 1}},
         "source 'tools': decisions applies to synthetic-tools sources only, not 'synthetic-reasoning'"),
    ):
        with pytest.raises(ConfigError, match=why):
            recipe(**source)


def test_set_overrides_win_over_yaml():
    recipe = load_recipe(ROOT / "recipes/data/default.yaml", ["size=10", "sources.0.n=7", "dedup.near=false"])
    assert recipe.size == 10 and recipe.sources[0].n == 7 and recipe.dedup.near is False


@pytest.mark.parametrize("path", sorted((ROOT / "recipes/data").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_data_recipe_loads(path):
    recipe = load_recipe(path)
    assert recipe.sources and recipe.phases


# ------------------------------------------------------------------------------------------------ build


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken json\n")
    return path


def local_rows():
    rows = [{"messages": chat(f"What is {i} plus {i * 7 + 3} when you add them together carefully?", f"{i} + {i * 7 + 3} = {i * 8 + 3}.", f"{i * 8 + 3}")} for i in range(30)]
    rows.append(rows[0])  # an exact duplicate
    rows.append({"messages": chat("too long", " ".join(["word"] * 300), "x")})
    rows.append({"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "reasoning": "tool", "content": "",
                 "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}}]}],
                 "tools": [WEATHER]})
    return rows


def small_recipe(path, **extra):
    data = {"name": "t", "seed": 3, "validation": 0.1, "tokenizer": "smollm2-135m",
            "sources": [{"name": "local", "type": "local", "path": str(path)}],
            "phases": [{"name": "p1", "window": 64, "stride": 16}, {"name": "p2", "window": 512, "stride": 128}]}
    data.update(extra)
    return recipe_from_dict(data)


def test_build_writes_datasets_manifest_and_quarantine(tmp_path):
    from datasets import load_from_disk

    src = write_jsonl(tmp_path / "chats.jsonl", local_rows())
    out = tmp_path / "out"
    manifest = build(small_recipe(src), out)
    stats = manifest["sources"]["local"]
    assert stats["read"] == 34 and stats["kept"] == 31
    assert stats["rejected"] == {"malformed JSON": 1, "exact duplicate": 1, "reasoning over budget": 1}
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(q["reason"] for q in quarantine) == sorted(["malformed JSON", "exact duplicate", "reasoning over budget"])
    assert manifest["splits"] == {"train": 28, "validation": 3}
    train = load_conversations(out, "train")
    assert any(m.get("tool_calls") for row in train for m in row["messages"])  # JSON-string arguments became dicts
    p1 = load_from_disk(str(out / "p1"))["train"]
    assert max(len(x) for x in p1["input_ids"]) <= 64
    assert manifest["phases"]["p1"]["train"]["cut_examples"] > 0 and manifest["phases"]["p2"]["train"]["cut_examples"] == 0
    assert all(len(a) == len(b) and any(b) for a, b in zip(p1["input_ids"], p1["assistant_masks"]))
    assert manifest["recipe"]["phases"][0] == {"name": "p1", "window": 64, "stride": 16}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temporary left behind


def test_build_is_deterministic_and_refuses_to_overwrite(tmp_path):
    src = write_jsonl(tmp_path / "chats.jsonl", local_rows())
    a = build(small_recipe(src), tmp_path / "a")
    b = build(small_recipe(src), tmp_path / "b")
    assert a["hashes"] == b["hashes"]
    c = build(small_recipe(src, seed=4), tmp_path / "c")
    assert c["hashes"] != a["hashes"]
    with pytest.raises(BuildError, match="already exists.*--overwrite"):
        build(small_recipe(src), tmp_path / "a")
    (tmp_path / "a" / "marker").write_text("old")
    build(small_recipe(src), tmp_path / "a", overwrite=True)
    assert not (tmp_path / "a" / "marker").exists()


def test_counts_and_weights_select_deterministically(tmp_path):
    src = write_jsonl(tmp_path / "chats.jsonl", local_rows())
    m = build(small_recipe(src, sources=[{"name": "local", "type": "local", "path": str(src), "count": 10}]), tmp_path / "o")
    assert m["sources"]["local"]["selected"] == 10 and sum(m["splits"].values()) == 10
    m = build(small_recipe(src, size=12, sources=[{"name": "local", "type": "local", "path": str(src), "weight": 1.0}]), tmp_path / "w")
    assert sum(m["splits"].values()) == 12


def test_a_failing_build_leaves_nothing_that_looks_complete(tmp_path):
    recipe = small_recipe(tmp_path / "missing.jsonl")
    with pytest.raises(BuildError, match="missing.jsonl"):
        build(recipe, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_data_cli_build_stats_show(tmp_path):
    src = write_jsonl(tmp_path / "chats.jsonl", local_rows())
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: cli\nvalidation: 0.1\nsources:\n  - {{name: mine, type: local, path: {src}}}\n"
        "phases:\n  - {name: p1, window: 64, stride: 16}\n"
    )
    out = tmp_path / "built"
    runner = CliRunner()
    result = runner.invoke(app, ["data", "build", str(recipe), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "mine" in result.output and "quarantined" in result.output
    result = runner.invoke(app, ["data", "build", str(recipe), "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(app, ["data", "stats", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and (out / "length_histogram.png").stat().st_size > 1000
    result = runner.invoke(app, ["data", "show", str(out), "--n", "2"], catch_exceptions=False)
    assert result.exit_code == 0 and result.output.count("── mine /") == 2 and "<|im_start|>assistant" in result.output
    result = runner.invoke(app, ["data", "stats", str(tmp_path)])
    assert result.exit_code == 2 and "manifest.json" in result.output
    result = runner.invoke(app, ["data", "build", str(recipe), "--set", "sources.0.typo=1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "typo" in result.output
    assert load_manifest(out)["sources"]["mine"]["kept"] > 0


def test_shipped_default_recipe_builds_end_to_end(tmp_path):
    """The offline default recipe, scaled down with --limit and --set: generators and the bundled distilled plain
    chat → filters → mixture → windows; plain chat is always rendered in no-think mode."""
    out = tmp_path / "default"
    result = CliRunner().invoke(
        app, ["data", "build", str(ROOT / "recipes/data/default.yaml"), "--limit", "60", "--set", "size=80", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    manifest = load_manifest(out)
    assert set(manifest["sources"]) == {"synthetic-reasoning", "gym-solutions", "synthetic-tools", "plain-chat"}
    assert all(s["read"] == 60 for s in manifest["sources"].values())
    assert sum(manifest["splits"].values()) == 80
    rows = load_conversations(out, "train")
    assert any(m.get("tool_calls") for r in rows for m in r["messages"]) and any(r["tools"] for r in rows)
    assert any(r["source"] == "gym-solutions" for r in rows)
    taught = [r for r in rows if r["source"] != "plain-chat"]
    assert all(m.get("reasoning") for r in taught for m in r["messages"] if m["role"] == "assistant")
    plain = [r for r in rows if r["source"] == "plain-chat"]
    assert plain and all(not r["tools"] and not any(m.get("reasoning") for m in r["messages"]) for r in plain)
    assert manifest["no_think_examples"]["train"] >= len(plain)


def test_no_think_fraction_renders_a_seeded_share_without_reasoning(tmp_path):
    from datasets import load_from_disk

    src = write_jsonl(tmp_path / "chats.jsonl", local_rows())
    with_reasoning = build(small_recipe(src), tmp_path / "a")
    mixed = build(small_recipe(src, no_think_fraction=0.5), tmp_path / "b")
    assert with_reasoning["no_think_examples"] == {"train": 0, "validation": 0}
    n = mixed["no_think_examples"]["train"]
    assert 0 < n < mixed["splits"]["train"]
    a = load_from_disk(str(tmp_path / "a" / "p2"))["train"]
    b = load_from_disk(str(tmp_path / "b" / "p2"))["train"]
    empty_think = [i for i, ids in enumerate(b["input_ids"]) if ids != a["input_ids"][i]]
    assert len(empty_think) >= n - 2  # examples without reasoning render the same either way
    with pytest.raises(Exception, match="no_think_fraction"):
        small_recipe(src, no_think_fraction=1.5)


def test_a_conversation_without_reasoning_always_renders_in_no_think_mode(tmp_path, smollm2_tokenizer):
    """Plain chat with no reasoning would otherwise train an empty think block as the answer to "<think>"."""
    from datasets import load_from_disk

    rows = [{"messages": [{"role": "user", "content": f"Describe animal number {i} in a sentence."},
                          {"role": "assistant", "content": f"Animal {i} is a friendly creature with soft fur."}]}
            for i in range(12)]
    src = write_jsonl(tmp_path / "plain.jsonl", rows)
    manifest = build(small_recipe(src, validation=0.0), tmp_path / "a")
    assert manifest["no_think_examples"]["train"] == manifest["splits"]["train"] == 12
    for ids in load_from_disk(str(tmp_path / "a" / "p2"))["train"]["input_ids"]:
        assert "<|im_start|>assistant\n<think>\n\n</think>\n\nAnimal" in smollm2_tokenizer.decode(ids)
