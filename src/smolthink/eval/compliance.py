"""The compliance suite: does the model keep the think format, and how long are its thoughts and answers?

A reply complies when
- think mode: it holds a well-formed, non-empty <think>…</think> block, then an answer (text or tool calls);
- no-think mode: it holds no reasoning at all (the prompt pre-fills an empty think block), then an answer;
- either mode: it ends with end-of-turn (finish_reason "stop", not "length") and every <tool_call> parses.

`check` names each failure with a short, stable code (counted in `summarize`):

    missing_think          think mode, no think block at all
    empty_think            think mode, <think></think> with nothing inside
    unterminated_think     the turn ended inside <think> (usually with truncated)
    stray_think_tag        a second <think> or a </think> in the answer
    reasoning_in_no_think  no-think mode, yet the reply thinks (a think block or tags)
    no_answer              nothing after the thinking: no text, no tool call
    truncated              generation hit max_new_tokens (finish_reason "length")
    no_eos                 any other finish reason than "stop" / "length"
    malformed_tool_call    a <tool_call> block that does not parse into a call

Prompts are reasoning questions from the synthetic-reasoning and reasoning-gym generators at a held-out seed
(7_100_000 for the test split, 7_150_000 for dev; training uses seeds below 1_000_000, see eval/reasoning.py), each
asked once in each mode.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from smolthink.eval.cases import Case, Scored, check_split
from smolthink.formats import THINK_CLOSE, ParsedOutput

COMPLIANCE_SEED = 7_100_000
DEFAULT_LIMIT = 20  # cases per category (mode)


def check(parsed: ParsedOutput, raw: str, *, enable_thinking: bool, finish_reason: str) -> dict[str, Any]:
    """{"ok", "problems", "reasoning_words", "answer_words", "mode"} for one reply.

    `parsed` is the parse of generation prefix + `raw` (what the runner does); `raw` is the generated text, used
    only to tell an empty think block from a missing one."""
    problems: list[str] = []
    unterminated = any(e.startswith("unterminated <think>") for e in parsed.errors)
    stray = [e for e in parsed.errors if not e.startswith("unterminated <think>")]
    if enable_thinking:
        if unterminated:
            problems.append("unterminated_think")
        elif parsed.reasoning is None:
            problems.append("empty_think" if THINK_CLOSE in raw else "missing_think")
        if stray:
            problems.append("stray_think_tag")
    elif parsed.reasoning is not None or parsed.errors:
        problems.append("reasoning_in_no_think")
    if not (parsed.content or parsed.tool_calls):
        problems.append("no_answer")
    if finish_reason == "length":
        problems.append("truncated")
    elif finish_reason != "stop":
        problems.append("no_eos")
    if parsed.call_errors:
        problems.append("malformed_tool_call")
    return {
        "ok": not problems,
        "problems": problems,
        "reasoning_words": len(parsed.reasoning.split()) if parsed.reasoning else 0,
        "answer_words": len(parsed.content.split()),
        "mode": "think" if enable_thinking else "no_think",
    }


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    return {"mean": round(sum(values) / len(values), 2), "p50": round(_quantile(values, 0.5), 2),
            "p90": round(_quantile(values, 0.9), 2), "max": float(max(values))}


def summarize(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Compliance rate, problem counts and word-length statistics over a list of `check` results.

    Reasoning lengths are taken over the think-mode replies only (no-think replies would add zeros); answer lengths
    over all. `modes` breaks the rate down by mode."""
    n = len(checks)
    thinking = [c for c in checks if c.get("mode", "think") == "think"]
    modes = {}
    for mode in ("think", "no_think"):
        group = [c for c in checks if c.get("mode", "think") == mode]
        if group:
            modes[mode] = {"n": len(group), "compliance": sum(c["ok"] for c in group) / len(group)}
    return {
        "n": n,
        "compliance": sum(c["ok"] for c in checks) / n if n else 0.0,
        "problems": dict(Counter(p for c in checks for p in c["problems"]).most_common()),
        "reasoning_words": _stats([c["reasoning_words"] for c in thinking]),
        "answer_words": _stats([c["answer_words"] for c in checks]),
        "modes": modes,
    }


def score(case: Case, parsed: ParsedOutput, raw: str, finish_reason: str) -> Scored:
    result = check(parsed, raw, enable_thinking=case.enable_thinking, finish_reason=finish_reason)
    return Scored(case.id, case.category, result["ok"], float(result["ok"]), "; ".join(result["problems"]))


def split_size(split: str) -> int:
    """Cases per category (mode) in a whole split (what `load_cases` gives without a limit)."""
    return DEFAULT_LIMIT * (2 if check_split(split) == "all" else 1)


def load_cases(*, limit: int | None = None, seed: int = COMPLIANCE_SEED, split: str = "test") -> list[Case]:
    """`limit` prompts per mode and split (default 20): the same questions, alternately from synthetic-reasoning and
    reasoning-gym, asked once with thinking ("think") and once without ("no_think"). `split`: "test" (questions at
    `seed`), "dev" (at seed + reasoning.DEV_SEED_OFFSET) or "all" (both)."""
    from smolthink.eval.reasoning import DEV_SEED_OFFSET

    if check_split(split) == "all":
        dev, test = (load_cases(limit=limit, seed=seed, split=s) for s in ("dev", "test"))
        return [c for mode in ("think", "no_think") for c in dev + test if c.category == mode]
    return _load(limit=limit, seed=seed + DEV_SEED_OFFSET if split == "dev" else seed)


def _load(*, limit: int | None, seed: int) -> list[Case]:
    from smolthink.data.sources import gym, synthetic_reasoning
    from smolthink.eval.reasoning import TRAINING_SEED_LIMIT

    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"eval seed {seed} is in the training range (< {TRAINING_SEED_LIMIT})")
    n_gym = limit // 2
    pools = (("synthetic", list(synthetic_reasoning.generate(limit - n_gym, seed=seed))),
             ("gym", list(gym.generate(n_gym, seed=seed))))
    questions = []
    for k in range(limit):  # alternate the two sources: synthetic, gym, synthetic, …
        name, pool = pools[k % 2]
        ex = pool[k // 2]
        question = next(m["content"] for m in ex.messages if m["role"] == "user")
        questions.append((f"{name}/{ex.row_id}", question, {"source": name, **ex.metadata}))
    cases = []
    for category, thinking in (("think", True), ("no_think", False)):
        for key, question, meta in questions:
            cases.append(Case(suite="compliance", category=category, id=f"{category}/{key}",
                              messages=[{"role": "user", "content": question}], enable_thinking=thinking,
                              meta=dict(meta)))
    return cases
