"""Verifiers: is a teacher's answer right, by the prompt source's own standard? Then what to keep of k samples.

`verify(prompt, message)` returns a `Verdict`; a rejected one carries a short, stable reason (counted in the
summary) and a detail. The checks every sample gets first (`check_reply`): a reply that hit max_tokens, a garbled
one, missing reasoning in think mode, control tokens, and then the data build's own filters (valid conversation,
no stray tags, reasoning within the word budget, calls to declared tools with schema-valid arguments), so what is
kept here passes `smolthink data build` unchanged.

- reasoning-gym: the final answer (`eval.reasoning.extract_answer`) scored by the task's `score_answer`, or
  math-verify for a numeric answer, exactly as `smolthink eval` scores it; correct means a score of 1.
- synthetic-tools: the calls must be the right calls (order-free; names equal, arguments equal after normalizing
  case, spacing and number types; an optional argument may be given with its default), or no call at all where
  the right answer makes none (irrelevance, "no tool fits").
- search: grounded. Every number and every capitalized name in the answer occurs in the passages (or the
  question); the reference facts, when the question lists them, occur in the answer; and "not found" is the right
  answer exactly when the passages do not hold one.
- local: a reference answer, when given, compared by math-verify (numbers) or exact match.
- instructions: no tool call, and the answer follows every instruction by if-verifiable's checkers with no tool talk
  (`data.sources.plain_chat.verify`, the check the ifeval suite makes).
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Any

from smolthink.data.example import Example
from smolthink.data.filters import check as data_filters
from smolthink.distill.prompts import Prompt
from smolthink.formats import ParsedOutput, neutralize_control_tokens


@dataclass
class Verdict:
    ok: bool
    reason: str  # "verified" when ok; otherwise short and stable ("wrong answer", "wrong call", …)
    detail: str = ""
    score: float = 1.0  # partial credit (reasoning-gym) or the judge's grade, for select: best


def passed(detail: str = "", score: float = 1.0) -> Verdict:
    return Verdict(True, "verified", detail, score)


def failed(reason: str, detail: str = "", score: float = 0.0) -> Verdict:
    return Verdict(False, reason, detail[:500], score)


def check_reply(prompt: Prompt, message: dict[str, Any], *, think: bool, require_reasoning: bool, budget: int,
                max_turns: int, finish_reason: str | None) -> Verdict | None:
    """The checks that do not depend on the source; None when the sample may go on to its verifier."""
    if finish_reason == "length":
        return failed("hit max_tokens", "the reply was cut off at teacher.max_tokens")
    if think and require_reasoning and not (message.get("reasoning") or "").strip():
        return failed("no reasoning", "think is on, and the reply has no reasoning")
    texts = [message.get("content") or "", message.get("reasoning") or ""]
    texts += [str(c["function"]["arguments"]) for c in message.get("tool_calls") or []]
    if any(neutralize_control_tokens(t) != t for t in texts):
        return failed("control token in reply", "the reply holds a special token or a chat-format tag")
    candidate = Example(prompt.source, prompt.id, [*prompt.messages, message], prompt.tools)
    rejected = data_filters(candidate, budget=budget, max_turns=max_turns)
    if rejected is not None:
        return failed(rejected.reason, rejected.detail)
    return None


def verify(prompt: Prompt, message: dict[str, Any]) -> Verdict:
    if prompt.kind == "reasoning-gym":
        return _gym(prompt, message)
    if prompt.kind == "synthetic-tools":
        return _calls(prompt.check["calls"], message.get("tool_calls") or [])
    if prompt.kind == "search":
        return _grounded(prompt.check, message)
    if prompt.kind == "instructions":
        return _instructions(prompt.check, message)
    return _local(prompt.check, message)


def _final(message: dict[str, Any]) -> str:
    from smolthink.eval.reasoning import extract_answer

    return extract_answer(ParsedOutput(reasoning=message.get("reasoning"), content=message.get("content") or ""))


# ----------------------------------------------------------------------------------------------- reasoning-gym


def _gym(prompt: Prompt, message: dict[str, Any]) -> Verdict:
    from smolthink.eval.cases import Case
    from smolthink.eval.reasoning import score

    if message.get("tool_calls"):
        return failed("unexpected tool call", "no tools are offered for a reasoning question")
    meta = prompt.check["gym"]
    case = Case("reasoning", f"gym/{meta['task']}", prompt.id, prompt.messages, meta=meta)
    scored = score(case, ParsedOutput(reasoning=message.get("reasoning"), content=message.get("content") or ""))
    if scored.correct:
        return passed(scored.detail, scored.score)
    return failed("wrong answer", scored.detail, scored.score)


# ------------------------------------------------------------------------------------------------------ tools


def _calls(right: list[dict[str, Any]], made: list[dict[str, Any]]) -> Verdict:
    if not right:
        if made:
            names = ", ".join(c["function"]["name"] for c in made)
            return failed("call on irrelevance", f"no offered tool fits the request, but the reply calls {names}")
        return passed("no call, as expected")
    if not made:
        return failed("no call", f"expected {_show(right)}")
    if len(made) != len(right):
        return failed("wrong number of calls", f"expected {_show(right)}, got {_show(made)}")
    unmatched = list(made)
    for want in right:
        hit = next((c for c in unmatched if _same_call(want["function"], c["function"])), None)
        if hit is None:
            return failed("wrong call", f"expected {_show([want])} among {_show(made)}")
        unmatched.remove(hit)
    return passed("calls match")


def _show(calls: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in calls)


def _same_call(want: dict[str, Any], got: dict[str, Any]) -> bool:
    if want["name"] != got["name"]:
        return False
    a, b = want["arguments"], got["arguments"]
    defaults = _defaults(want["name"])
    for key in set(a) | set(b):
        if key in a and key in b:
            if not _same_value(a[key], b[key]):
                return False
        elif key not in defaults or not _same_value(defaults[key], a.get(key, b.get(key))):
            return False
    return True


def _defaults(name: str) -> dict[str, Any]:
    """The optional arguments' defaults of a catalog or solver tool (its Python signature; schemas carry none)."""
    from smolthink.data.sources import synthetic_tools, task_tools

    tool = synthetic_tools.BY_NAME.get(name) or task_tools.SOLVERS.get(name)
    if tool is None:
        return {}
    params = inspect.signature(tool.fn).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return _norm(a) == _norm(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return a == b


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".")


# ----------------------------------------------------------------------------------------------------- search

_NOT_FOUND = re.compile(
    r"(?i)\b(?:not found|(?:could ?n[o']t|can ?n[o']t|did ?n[o']t|was unable to|unable to) find|no information|"
    r"(?:do|does|did) ?(?:n[o']t|not) (?:say|mention|contain|include|state|give|hold|cover)|"
    r"(?:is|are) ?(?:n[o']t|not) (?:mentioned|stated|given|included|in the))")
_DIGITS = re.compile(r"\d+")
_LIST_MARKER = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s+")
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _grounded(check: dict[str, Any], message: dict[str, Any]) -> Verdict:
    if message.get("tool_calls"):
        return failed("unexpected tool call", "the search was already run; the answer is written from its results")
    answer = _LIST_MARKER.sub("", (message.get("content") or "").strip())
    passages, question = check["passages"], check["question"]
    source_text = f"{passages}\n{question}"
    facts = check["facts"]
    holds = check["answerable"] and (not facts or all(_contains(passages, f) for f in facts))
    if _NOT_FOUND.search(answer):
        if not check["answerable"]:
            return passed("not found, as expected")
        if facts and holds:
            return failed("missed the answer", "the reply says not found, but the passages hold the reference facts")
        if not facts and not passages.startswith("no passages match"):
            return failed("unverifiable not found", "passages were found and the question lists no facts to check "
                          "that they lack the answer")
        return passed("not found, as the passages hold no answer")
    if not holds:
        return failed("answered without grounds", "the passages do not hold the answer, yet the reply gives one")
    missing = [f for f in facts if not _contains(answer, f)]
    if missing:
        return failed("missing key fact", f"the answer lacks {missing[0]!r}")
    known = {int(d) for d in _DIGITS.findall(source_text)}
    for d in _DIGITS.findall(answer):
        if int(d) not in known:
            return failed("ungrounded", f"the number {d} is not in the passages")
    lowered = source_text.casefold()
    for sentence in _SENTENCE.split(answer):
        for name in _WORD.findall(sentence)[1:]:  # a capitalized word that does not start its sentence: a name
            if name[0].isupper() and name != "I" and name.casefold() not in lowered:
                return failed("ungrounded", f"{name!r} is not in the passages")
    return passed("grounded in the passages")


def _contains(text: str, fact: str) -> bool:
    """A fact occurs in a text: its numbers as numbers ("08:15" matches "8:15"), its words case-insensitively."""
    digits = [int(d) for d in _DIGITS.findall(fact)]
    if digits:
        have = {int(d) for d in _DIGITS.findall(text)}
        return all(d in have for d in digits) and _norm(_DIGITS.sub("", fact)).strip() in _norm(_DIGITS.sub("", text))
    return _norm(fact) in _norm(text)


# ------------------------------------------------------------------------------------------------------ local


def _local(check: dict[str, Any], message: dict[str, Any]) -> Verdict:
    gold, mode = check["answer"], check["mode"]
    if gold is None or mode == "none":
        return passed("no reference answer")
    if message.get("tool_calls"):
        return failed("unexpected tool call", f"expected the answer {gold!r}")
    predicted = _final(message)
    numeric = re.fullmatch(r"\s*-?[\d,]*\.?\d+\s*", gold) is not None
    if (mode == "math" or (mode == "auto" and numeric)) and _math_equal(gold, predicted):
        return passed(f"math-verify: {predicted!r} == {gold!r}")
    if mode != "math" and _norm(predicted) == _norm(gold):
        return passed("exact match")
    return failed("wrong answer", f"expected {gold!r}, got {predicted!r}")


def _math_equal(gold: str, predicted: str) -> bool:
    """math-verify, timeouts off (they use signal.alarm, main thread only; the inputs here are short)."""
    from math_verify import parse, verify

    if not predicted or len(predicted) > 200:
        return False
    return bool(verify(parse(gold, parsing_timeout=None), parse(predicted, parsing_timeout=None), timeout_seconds=None))


# ----------------------------------------------------------------------------------------------- instructions


def _instructions(check: dict[str, Any], message: dict[str, Any]) -> Verdict:
    from smolthink.data.sources.plain_chat import verify as follows

    if message.get("tool_calls"):
        return failed("unexpected tool call", "no tools are offered for a plain-chat request")
    ok, detail = follows(message.get("content") or "", check["instructions"])
    if ok:
        return passed(detail)
    reason = detail.split(":", 1)[0]
    return failed("instruction not followed" if reason == "not followed" else reason, detail)


# ----------------------------------------------------------------------------------------------------- select


def content_key(message: dict[str, Any]) -> str:
    """Samples that say the same thing (whitespace aside) are duplicates for select: all."""
    import json

    calls = [c["function"] for c in message.get("tool_calls") or []]
    blob = json.dumps([message.get("reasoning") or "", message.get("content") or "", calls], sort_keys=True)
    return " ".join(blob.split())


def select(policy: str, samples: list[tuple[int, dict[str, Any], Verdict]], kept_before: list[str]) -> dict[int, str]:
    """Which verified samples of one prompt to keep: {sample index: "kept" or the reason it is not}.

    `samples` are (index, message, verdict) of the verified ones; `kept_before` the content keys of samples of this
    prompt kept by an earlier run (a run killed between a prompt's lines), so a resumed prompt keeps one sample under
    first/best and no duplicate under all.
    """
    decisions: dict[int, str] = {}
    if policy == "all":
        seen = set(kept_before)
        for index, message, _ in samples:
            key = content_key(message)
            decisions[index] = "duplicate sample" if key in seen else "kept"
            seen.add(key)
        return decisions
    if policy == "best":  # the highest score; a tie goes to the shorter reasoning, then the lower index
        order = sorted(samples, key=lambda s: (-s[2].score, len((s[1].get("reasoning") or "").split()), s[0]))
    else:
        order = sorted(samples, key=lambda s: s[0])
    for rank, (index, _, _) in enumerate(order):
        decisions[index] = "kept" if rank == 0 and not kept_before else f"not selected ({policy})"
    return decisions
