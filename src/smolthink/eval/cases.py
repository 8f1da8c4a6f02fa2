"""What every suite hands the runner (`Case`) and gets back from its scorer (`Scored`), and the dev/test split.

The split: data, chat-template and recipe decisions are made on `dev`; `test` is looked at to report, not to
choose. `split_of` assigns a case by a hash of its id alone, so the assignment never depends on which categories,
limit or order were asked for, and never changes while the id does not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("dev", "test", "all")
DEV_SHARE = 3  # one case in DEV_SHARE is a dev case


def split_of(case_id: str) -> str:
    """"dev" or "test" for a case id: dev when sha256(id), read as an integer, is divisible by DEV_SHARE (a third)."""
    return "dev" if int(hashlib.sha256(case_id.encode("utf-8")).hexdigest(), 16) % DEV_SHARE == 0 else "test"


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return split


def in_split(case_id: str, split: str) -> bool:
    return check_split(split) == "all" or split_of(case_id) == split


def sample(ids: list[str], limit: int | None) -> list[str]:
    """`limit` of `ids`, kept in their order: the ones with the smallest sha256("sample:" + id), a random sample that
    is the same on every run and independent of the split hash. File order is not random (BFCL files run topic by
    topic), so a quick run on N cases must not mean the first N."""
    if limit is None or limit >= len(ids):
        return list(ids)
    chosen = set(sorted(ids, key=lambda i: hashlib.sha256(f"sample:{i}".encode("utf-8")).hexdigest())[:limit])
    return [i for i in ids if i in chosen]


@dataclass
class Case:
    suite: str  # "bfcl" | "reasoning" | "compliance"
    category: str  # e.g. "simple_python", "irrelevance", "chain_sum", "synthetic/arithmetic"
    id: str  # unique within the suite, stable across runs (the generation cache is keyed by it)
    messages: list[dict[str, Any]]  # the prompt conversation in smolthink's schema (system/user turns)
    tools: list[dict[str, Any]] = field(default_factory=list)  # JSON schemas, as the model sees them
    enable_thinking: bool = True
    meta: dict[str, Any] = field(default_factory=dict)  # what the scorer needs: ground truth, task entry, …
    group: str = ""  # a report group above categories (reasoning: in_distribution / out_of_distribution / …)


@dataclass
class Scored:
    case_id: str
    category: str
    correct: bool
    score: float  # in [0, 1]; partial credit where a scorer gives it
    detail: str = ""  # why it failed (checker error, parse error, expected vs got)
