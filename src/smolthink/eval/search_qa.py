"""The search_qa suite: does the model search its local documents, and answer from what it found?

Cases come from smolthink.data.sources.search_docs with the held-out name pool ("eval": entity and person names no
training document uses) and local_search only (no web_search items), at held-out seeds: 7_300_000 for the test
split, 7_350_000 for dev (training uses seeds below 1_000_000, see eval/reasoning.py). The runner generates one
turn per case, so each item gives two cases:

    search_qa/call    the user's question with local_search offered (the real tool's schema, sometimes beside the
                      calculator): correct iff the model calls local_search, and only it, with a non-empty query
                      that shares at least one key word with the question
    search_qa/answer  the conversation up to the real local_search result for the gold query: correct iff the answer
                      holds the asked fact (normalised: case, punctuation and spacing ignored), or, where the
                      documents do not hold it (about a quarter), iff the answer says so and states no number that
                      is not in the passages or the question

`Scored.detail` of every answer case says "grounded" or "ungrounded: …" (the answer's numbers found in neither the
passages nor the question), so invention can be counted over answerable cases too.
"""

from __future__ import annotations

import random
import re
import unicodedata

from smolthink.eval.cases import Case, Scored, check_split
from smolthink.formats import ParsedOutput

SUITE = "search_qa"
CATEGORIES = ("search_qa/call", "search_qa/answer")
SEARCH_QA_SEED = 7_300_000
DEV_SEED = 7_350_000
DEFAULT_LIMIT = 30  # cases per category and split

_NOT_FOUND = re.compile(
    r"\b(?:not (?:mentioned|found|listed|given|stated|included|in)|no (?:information|mention|details?|record)"
    r"|(?:does|do|did|could|can)(?:n't| not) (?:find|say|mention|contain|include|state|tell|give|list|have)"
    r"|couldn't|cannot find|can't find|unable to find|don't know|doesn't appear|isn't (?:mentioned|listed|given))\b",
    re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")


def normalise(text: str) -> str:
    """Lowercase, letters and digits only, single spaces: "€3.40" → "3 40", "6:30 AM" → "6 30 am"."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).replace("_", " ").split())


def contains_fact(answer: str, fact: str) -> bool:
    return f" {normalise(fact)} " in f" {normalise(answer)} "


def says_not_found(answer: str) -> bool:
    return _NOT_FOUND.search(answer) is not None


def ungrounded_numbers(answer: str, *sources: str) -> list[str]:
    """The answer's numbers that occur in none of the sources (as whole numbers: "30" is not grounded by "130")."""
    grounded = {n for s in sources for n in _NUMBER.findall(s)}
    grounded |= {part for n in grounded for part in re.split(r"[.:,]", n)}
    return [n for n in dict.fromkeys(_NUMBER.findall(answer)) if n not in grounded]


def _query_words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text)}


def score(case: Case, parsed: ParsedOutput) -> Scored:
    """Judge one parsed model turn. Never raises on model output."""
    meta = case.meta

    def result(correct: bool, detail: str) -> Scored:
        return Scored(case.id, case.category, correct, 1.0 if correct else 0.0, detail)

    if case.category == "search_qa/call":
        calls = [c["function"] for c in parsed.tool_calls]
        if not calls:
            return result(False, "; ".join(["no tool call", *parsed.call_errors]))
        names = [c["name"] for c in calls]
        if any(n != "local_search" for n in names):
            return result(False, f"called {', '.join(names)}; expected local_search only")
        queries = [c["arguments"].get("query") for c in calls]
        if not all(isinstance(q, str) and q.strip() for q in queries):
            return result(False, f"empty or missing query: {queries!r}")
        keys = {w.lower() for w in meta["key_words"]}
        if not all(_query_words(q) & keys for q in queries):
            return result(False, f"query {queries!r} shares no key word with the question ({', '.join(sorted(keys))})")
        return result(True, "")

    answer = parsed.content
    invented = ungrounded_numbers(answer, meta["passages"], meta["question"])
    grounding = "grounded" if not invented else f"ungrounded: {', '.join(invented)}"
    if parsed.tool_calls:
        return result(False, f"called a tool instead of answering; {grounding}")
    if meta["answerable"]:
        found = contains_fact(answer, meta["fact"])
        return result(found, grounding if found else f"expected {meta['fact']!r}; {grounding}")
    declined = says_not_found(answer)
    ok = declined and not invented
    why = "" if declined else "did not say the documents lack the answer; "
    return result(ok, f"{why}{grounding}")


def split_size(split: str) -> int:
    """Cases per category in a whole split (what `load_cases` gives without a limit)."""
    return DEFAULT_LIMIT * (2 if check_split(split) == "all" else 1)


def load_cases(*, limit: int | None = None, split: str = "test", enable_thinking: bool = True) -> list[Case]:
    """`limit` items per split (default 30), each a search_qa/call and a search_qa/answer case; `split`: "test"
    (items at 7_300_000), "dev" (at 7_350_000) or "all" (dev, then test, per category)."""
    if check_split(split) == "all":
        cases = [c for s in ("dev", "test") for c in load_cases(limit=limit, split=s, enable_thinking=enable_thinking)]
        return [c for category in CATEGORIES for c in cases if c.category == category]
    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return _load(limit, DEV_SEED if split == "dev" else SEARCH_QA_SEED, enable_thinking)


def _load(limit: int, seed: int, enable_thinking: bool) -> list[Case]:
    from smolthink.data.sources import search_docs
    from smolthink.eval.reasoning import TRAINING_SEED_LIMIT

    if seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"eval seed {seed} is in the training range (< {TRAINING_SEED_LIMIT})")
    calls, answers = [], []
    for i in range(limit):
        messages, tools, extra = search_docs.make_item(random.Random(f"{seed}:{i}"), pool="eval", web_share=0.0)
        user, call, tool_message = messages[:3]
        meta = {"question": extra["question"], "key_words": search_docs.key_words(extra["question"]),
                "fact": extra["fact"], "answerable": extra["answerable"], "entity": extra["entity"],
                "attribute": extra["attribute"], "query": extra["query"], "passages": tool_message["content"],
                "seed": seed, "index": i}
        calls.append(Case(suite=SUITE, category="search_qa/call", id=f"call/{seed}:{i}", messages=[user],
                          tools=tools, enable_thinking=enable_thinking, meta=meta))
        answers.append(Case(suite=SUITE, category="search_qa/answer", id=f"answer/{seed}:{i}",
                            messages=[user, call, tool_message], tools=tools, enable_thinking=enable_thinking,
                            meta=dict(meta)))
    return calls + answers
