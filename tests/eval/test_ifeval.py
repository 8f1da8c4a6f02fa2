"""The ifeval suite and the plain-chat prompts: deterministic cases, disjoint splits, held-out topics, scoring by
if-verifiable on hand-written answers, and the no-tool-talk category."""

from __future__ import annotations

import inspect

import pytest

from smolthink.data.sources import plain_chat
from smolthink.errors import UserError
from smolthink.eval import ifeval
from smolthink.eval.cases import Case
from smolthink.formats import parse_assistant

NO_THINK_PREFIX = "<think>\n\n</think>\n\n"  # what the template pre-fills without thinking


def case(text: str, instructions: list[dict], category: str = "ifeval/format") -> Case:
    return Case("ifeval", category, f"{category}/x", [{"role": "user", "content": text}],
                meta={"instructions": instructions})


def scored(c: Case, raw: str):
    return ifeval.score(c, parse_assistant(raw))


def one(id: str, **kwargs) -> dict:
    return {"id": id, "kwargs": kwargs}


# ------------------------------------------------------------------------------------------------------ cases


def test_cases_are_deterministic_and_every_category_is_full():
    a, b = ifeval.load_cases(), ifeval.load_cases()
    assert [(c.id, c.messages, c.meta) for c in a] == [(c.id, c.messages, c.meta) for c in b]
    by_category = {cat: [c for c in a if c.category == cat] for cat in ifeval.CATEGORIES}
    assert set(ifeval.CATEGORIES) >= {"ifeval/length", "ifeval/keywords", "ifeval/format", "ifeval/no_tool_talk"}
    assert all(len(cs) == ifeval.split_size("test") == ifeval.DEFAULT_LIMIT for cs in by_category.values())
    assert len({c.id for c in a}) == len(a)
    for cat, cs in by_category.items():
        assert len({c.messages[0]["content"] for c in cs}) == len(cs), f"{cat}: a prompt twice"
        if cat != "ifeval/no_tool_talk":  # the category is the first instruction's family
            assert all(plain_chat.BY_ID[c.meta["instructions"][0]["id"]].family == cat.split("/")[1] for c in cs)
    for c in a:
        assert c.suite == "ifeval" and not c.tools and [m["role"] for m in c.messages] == ["user"]
        assert c.messages[0]["content"].startswith(c.meta["topic"]) and 0 <= len(c.meta["instructions"]) <= 2
    small = ifeval.load_cases(limit=3)  # a smaller limit asks the first cases of each category
    assert [c.id for c in small] == [c.id for cs in by_category.values() for c in cs[:3]]
    # always no-think: the base model never closes <think>, so think mode would measure the format, not the answer
    assert not any(c.enable_thinking for c in ifeval.load_cases(limit=1, enable_thinking=True))


def test_splits_use_their_seeds_and_never_share_a_prompt():
    test, dev = ifeval.load_cases(split="test"), ifeval.load_cases(split="dev")
    assert all(":" in c.id and c.id.rsplit("/", 1)[1].startswith("7400000:") for c in test)
    assert all(c.id.rsplit("/", 1)[1].startswith("7450000:") for c in dev)
    assert not {c.messages[0]["content"] for c in test} & {c.messages[0]["content"] for c in dev}
    both = ifeval.load_cases(split="all")
    assert len(both) == len(test) + len(dev) == ifeval.split_size("all") * len(ifeval.CATEGORIES)
    assert {c.id for c in both} == {c.id for c in test} | {c.id for c in dev}
    with pytest.raises(ValueError, match="training range"):
        ifeval.load_cases(seed=5)
    with pytest.raises(ValueError, match="unknown split"):
        ifeval.load_cases(split="train")


def test_the_issue_prompt_is_asked_and_instructions_fit_if_verifiable():
    registry = plain_chat._registry()
    cases = ifeval.load_cases(split="all")
    assert any(c.meta["topic"] == "Write one sentence about why the sky is blue." for c in cases)
    assert len(ifeval.TOPICS) >= 60 and len(plain_chat.TRAINING_TOPICS) >= 60
    for c in cases:
        for i in c.meta["instructions"]:
            checker = registry[i["id"]](i["id"])  # every id is a checker; its kwargs are the ones it takes
            checker.build_description(**i["kwargs"])
            assert set(i["kwargs"]) <= set(inspect.signature(checker.build_description).parameters)
    ids = {i["id"] for c in cases for i in c.meta["instructions"]}
    assert ids == set(plain_chat.BY_ID)  # every instruction of the catalog is asked somewhere


# ---------------------------------------------------------------------------------------------------- scoring


def test_score_passes_and_fails_by_if_verifiable():
    c = case("Describe a cat. Answer in lowercase, with less than 20 words.",
             [one("change_case:english_lowercase"), one("length_constraints:number_words", num_words=20,
                                                        relation="less than")], "ifeval/case")
    good = scored(c, NO_THINK_PREFIX + "a cat is a small soft animal with whiskers that loves to nap in the sun.")
    assert good.correct and good.score == 1.0 and good.detail == ""
    half = scored(c, NO_THINK_PREFIX + "A cat is a small soft animal with whiskers that loves to nap in the sun.")
    assert not half.correct and half.score == 0.5 and "change_case:english_lowercase" in half.detail
    long = " ".join(["A cat purrs."] * 10)
    assert scored(c, NO_THINK_PREFIX + long).score == 0.0


def test_score_reads_the_answer_after_think_only():
    c = case("Describe a cat. Include the keywords fur and whiskers.",
             [one("keywords:existence", keywords=["fur", "whiskers"])], "ifeval/keywords")
    # the keywords in the thinking do not count
    assert not scored(c, "<think>\nfur and whiskers.\n</think>\n\nA cat is a small pet.").correct
    assert scored(c, "<think>\nok\n</think>\n\nA cat has soft fur and long whiskers.").correct


@pytest.mark.parametrize("instruction,good,bad", [
    (one("detectable_format:title"), "<<The Cat>>\nA cat naps.", "The Cat\nA cat naps."),
    (one("detectable_format:json_format"), '```json\n{"animal": "cat"}\n```', "A cat: {animal}"),
    (one("detectable_format:number_bullet_lists", num_bullets=2), "* soft\n* small", "* soft\n* small\n* quiet"),
    (one("punctuation:no_comma"), "Cats are soft and small.", "Cats are soft, small."),
    (one("keywords:forbidden_words", forbidden_words=["dog"]), "A cat naps.", "A cat is not a dog."),
    (one("startend:end_checker", end_phrase="Any other questions?"), "Cats nap. Any other questions?",
     "Any other questions? Cats nap."),
    (one("startend:quotation"), '"Cats nap."', "Cats nap."),
    (one("length_constraints:number_paragraphs", num_paragraphs=2), "Cats nap.\n***\nCats purr.", "Cats nap."),
    (one("detectable_content:postscript", postscript_marker="P.S."), "Cats nap.\nP.S. They purr.", "Cats nap."),
])
def test_each_instruction_family_is_checked(instruction, good, bad):
    c = case("Describe a cat.", [instruction])
    assert scored(c, NO_THINK_PREFIX + good).correct
    assert not scored(c, NO_THINK_PREFIX + bad).correct


def test_no_tool_talk_category():
    c = case("Write one sentence about why the sky is blue.", [], "ifeval/no_tool_talk")
    good = scored(c, NO_THINK_PREFIX + "Air scatters blue sunlight more than red, so the sky looks blue.")
    assert good.correct and good.score == 1.0
    talk = scored(c, NO_THINK_PREFIX + "None of my tools can answer that; I do not need to call a function.")
    assert not talk.correct and "tool talk" in talk.detail and talk.score == pytest.approx(2 / 3, abs=1e-3)
    called = ifeval.score(c, parse_assistant(NO_THINK_PREFIX + '<tool_call>\n{"name": "web_search", "arguments": '
                                             '{"query": "why is the sky blue"}}\n</tool_call>'))
    assert not called.correct and "tool call" in called.detail and "empty answer" in called.detail
    assert scored(c, NO_THINK_PREFIX + "").score == pytest.approx(2 / 3, abs=1e-3)


def test_missing_if_verifiable_names_the_extra(monkeypatch):
    plain_chat._registry.cache_clear()
    real = plain_chat.importlib.util.find_spec
    monkeypatch.setattr(plain_chat.importlib.util, "find_spec",
                        lambda name, *a: None if name == "if_verifiable" else real(name, *a))
    try:
        with pytest.raises(plain_chat.IFVerifiableNotInstalledError, match=r"smolthink\[eval\]") as info:
            plain_chat.check("A cat.", [one("punctuation:no_comma")])
        assert isinstance(info.value, UserError) and isinstance(info.value, ImportError)
        assert len(ifeval.load_cases(limit=1)) == len(ifeval.CATEGORIES)  # loading cases needs no checker
    finally:
        plain_chat._registry.cache_clear()


# ------------------------------------------------------------------------------------------ training prompts


def test_training_prompts_never_ask_an_eval_prompt():
    assert not {t[0] for t in plain_chat.TRAINING_TOPICS} & {t[0] for t in ifeval.TOPICS}
    held_out = ifeval.eval_prompts()
    assert {c.messages[0]["content"] for c in ifeval.load_cases(split="all")} <= held_out
    for seed in (0, 8000, 999_999):
        rows = plain_chat.training_prompts(2000, seed=seed)
        assert not {r["prompt"] for r in rows} & held_out
    with pytest.raises(ValueError, match="training seed"):
        plain_chat.training_prompts(5, seed=ifeval.IFEVAL_SEED)


def test_training_prompts_are_deterministic_and_cover_every_family():
    rows = plain_chat.training_prompts(60, seed=8000)
    assert rows == plain_chat.training_prompts(60, seed=8000)
    assert plain_chat.training_prompts(10, seed=8000) == rows[:10]  # item i depends on (seed, i) alone
    assert rows != plain_chat.training_prompts(60, seed=8001)
    assert {r["family"] for r in rows} == set(plain_chat.FAMILIES)
    for r in rows:
        assert set(r) == {"id", "prompt", "family", "instructions"} and r["id"].startswith("8000:")
        assert 1 <= len(r["instructions"]) <= 2 and all(i["id"] in plain_chat.BY_ID for i in r["instructions"])
        if len(r["instructions"]) == 2:
            a, b = (plain_chat.BY_ID[i["id"]] for i in r["instructions"])
            assert a.family != b.family and "detectable_format:json_format" not in (a.id, b.id)


def test_verify_is_the_same_check_with_reasons():
    lower = [one("change_case:english_lowercase")]
    assert plain_chat.verify("cats are soft and sleepy.", lower) == (True, "1 instruction followed")
    assert plain_chat.verify("Cats are soft.", lower) == (False, "not followed: change_case:english_lowercase")
    assert plain_chat.verify("  ", lower) == (False, "empty answer")
    ok, detail = plain_chat.verify("i would call a tool for that.", lower)
    assert not ok and detail.startswith("tool talk")
    assert plain_chat.verify("Cats nap.", []) == (True, "0 instructions followed")
    with pytest.raises(ValueError, match="unknown if-verifiable instruction"):
        plain_chat.verify("Cats nap.", [one("change_case:shouting")])
