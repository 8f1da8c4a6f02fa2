"""The distill recipe: a teacher, the prompt sources (each with its verifier) and what to keep.

Loaded like every recipe (`smolthink.config`): defaults < YAML < `--set`, unknown keys answered with the closest
valid one. `identity` is the part of a recipe that decides what the output holds; a rerun on the same `--out`
resumes only when it matches (concurrency, timeouts, retries and `n` may change between runs: item i of every
generator depends on (seed, i) alone, so a larger `n` extends a run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from smolthink.config import ConfigError, apply_overrides, load_dataclass, load_recipe_data, read_yaml, to_dict
from smolthink.errors import UserError

# The reasoning word budget `smolthink data build` uses (DataRecipe.reasoning_words); tests/test_distill.py checks
# that the two agree.
DATA_BUILD_REASONING_WORDS = 256
SourceKind = Literal["reasoning-gym", "synthetic-tools", "search", "local", "instructions"]


class DistillError(UserError):
    """A distill run cannot start or go on; the message names the recipe key, the URL or the file."""


@dataclass
class TeacherSpec:
    """`url` + `model` (+ `api_key_env`): an OpenAI-compatible server. No `url`: `model` is a smolthink model
    reference generated in-process (self-distillation)."""

    model: str
    url: str | None = None  # base URL ending in /v1, e.g. http://127.0.0.1:8000/v1
    api_key_env: str | None = None  # the NAME of the environment variable that holds the key, never the key
    backend: str = "auto"  # in-process only: auto | llama | transformers
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    samples: int = 1  # k answers per prompt
    system: str | None = None  # teacher-only system prompt: sent to the teacher, not stored in the data
    think: bool = True
    stream: bool = False  # read the reply as server-sent events (long generations behind idle-timeout proxies)
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request body (vendor switches)
    timeout_s: float = 300.0  # per request, start to last byte
    retries: int = 4  # further attempts after a 429/5xx/timeout/connection error/garbled reply
    backoff_s: float = 0.5  # first retry waits up to this long, doubling per attempt (full jitter, at most 30 s)
    max_consecutive_failures: int = 5  # requests failed in a row (after their retries) that stop the run


@dataclass
class JudgeSpec:
    """A second endpoint that grades each verified sample against `rubric`, 0–10; kept when >= threshold."""

    url: str
    model: str
    rubric: str
    api_key_env: str | None = None
    threshold: float = 7.0
    max_tokens: int = 512
    timeout_s: float = 300.0
    retries: int = 4
    backoff_s: float = 0.5
    max_consecutive_failures: int = 5


@dataclass
class PromptSpec:
    name: str  # unique; prompt ids are "<name>/<row id>"
    type: SourceKind
    n: int | None = None  # how many prompts (generators), or read at most (files)
    seed: int = 0  # generators: a training seed (< 1_000_000, never an evaluation seed)
    tasks: list[str] | None = None  # reasoning-gym task names (default: the easy tasks)
    configs: dict[str, dict[str, Any]] | None = None  # reasoning-gym: per-task config
    kinds: list[str] | None = None  # synthetic-tools kinds (default: all)
    path: str | None = None  # local: a JSONL/parquet of questions; search: a JSONL of questions
    questions: list[dict[str, Any]] | None = None  # search: questions written in the recipe
    docs: str | None = None  # search: the documents folder (default: the bundled demo documents)
    search: Literal["local_search", "web_search"] = "local_search"
    check: Literal["auto", "math", "exact", "none"] = "auto"  # local: how a reference answer is compared
    instruction: str | None = None  # teacher-only instruction for this source's prompts (search has a default)


@dataclass
class KeepSpec:
    select: Literal["first", "all", "best"] = "first"  # of the verified samples of a prompt
    require_reasoning: bool = True  # when think is on, a sample without reasoning is rejected
    reasoning_words: int = DATA_BUILD_REASONING_WORDS
    max_turns: int = 32
    judge: JudgeSpec | None = None


@dataclass
class DistillRecipe:
    name: str
    teacher: TeacherSpec
    prompts: list[PromptSpec]
    keep: KeepSpec = field(default_factory=KeepSpec)
    concurrency: int = 4  # teacher requests in flight
    recipe_file = None  # set by load_recipe; not a key

    def __post_init__(self) -> None:
        t = self.teacher
        if not self.prompts:
            raise ConfigError("prompts: a recipe needs at least one prompt source")
        names = [p.name for p in self.prompts]
        if len(set(names)) != len(names):
            raise ConfigError(f"prompts: source names must be unique, got {names}")
        for key, value, low in (("teacher.samples", t.samples, 1), ("teacher.max_tokens", t.max_tokens, 1),
                                ("concurrency", self.concurrency, 1), ("teacher.retries", t.retries, 0),
                                ("teacher.max_consecutive_failures", t.max_consecutive_failures, 1),
                                ("keep.reasoning_words", self.keep.reasoning_words, 1)):
            if value < low:
                raise ConfigError(f"{key}: must be >= {low}, got {value}")
        if t.timeout_s <= 0:
            raise ConfigError(f"teacher.timeout_s: must be > 0, got {t.timeout_s}")
        if not 0 <= t.temperature <= 2 or not 0 < t.top_p <= 1:
            raise ConfigError(f"teacher: need 0 <= temperature <= 2 and 0 < top_p <= 1, got {t.temperature}, {t.top_p}")
        if t.samples > 1 and t.temperature == 0:
            raise ConfigError(f"teacher.samples: {t.samples} samples at temperature 0 would all be the same answer; "
                              "set teacher.temperature > 0 or samples: 1")
        if t.url is None and t.api_key_env is not None:
            raise ConfigError("teacher.api_key_env: only an OpenAI-compatible server (teacher.url) takes a key")
        if t.url is not None and not t.url.startswith(("http://", "https://")):
            raise ConfigError(f"teacher.url: expected an http:// or https:// base URL, got {t.url!r}")
        for p in self.prompts:
            _check_source(p)


# Which keys each source type reads: a key given to a type that ignores it is a mistake worth naming.
_SOURCE_KEYS = {
    "reasoning-gym": {"n", "seed", "tasks", "configs", "instruction"},
    "synthetic-tools": {"n", "seed", "kinds", "instruction"},
    "search": {"n", "path", "questions", "docs", "search", "instruction"},
    "local": {"n", "path", "check", "instruction"},
    "instructions": {"n", "seed", "instruction"},
}
TRAINING_SEED_LIMIT = 1_000_000  # = smolthink.eval.reasoning.TRAINING_SEED_LIMIT (checked by a test)


def _check_source(p: PromptSpec) -> None:
    where = f"prompts[{p.name}]"
    defaults = {f.name: f.default for f in dataclasses.fields(PromptSpec) if f.default is not dataclasses.MISSING}
    stray = [k for k in defaults if k in _ALL_SOURCE_KEYS - _SOURCE_KEYS[p.type] and getattr(p, k) != defaults[k]]
    if stray:
        takes = ", ".join(sorted(_SOURCE_KEYS[p.type]))
        raise ConfigError(f"{where}: {stray[0]!r} does not apply to a {p.type} source (it takes: {takes})")
    if p.type in ("reasoning-gym", "synthetic-tools", "instructions"):
        if not p.n:
            raise ConfigError(f"{where}: a {p.type} source needs n (how many prompts to generate)")
        if not 0 <= p.seed < TRAINING_SEED_LIMIT:
            raise ConfigError(f"{where}.seed: {p.seed} is not a training seed (0 <= seed < {TRAINING_SEED_LIMIT:,}); "
                              "seeds from 7,000,000 up are the evaluation's")
    if p.type == "local" and not p.path:
        raise ConfigError(f"{where}: a local source needs path (a .jsonl or .parquet file of questions)")
    if p.type == "search" and (p.path is None) == (p.questions is None):
        raise ConfigError(f"{where}: a search source needs exactly one of path (a JSONL of questions) or questions")
    if p.n is not None and p.n < 0:
        raise ConfigError(f"{where}.n: must be >= 0, got {p.n}")


_ALL_SOURCE_KEYS = set().union(*_SOURCE_KEYS.values())


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> DistillRecipe:
    data = apply_overrides(read_yaml(path), overrides or [], str(path))
    teacher = data.get("teacher")
    if isinstance(teacher, dict) and "api_key" in teacher:
        raise ConfigError(f"{path}: teacher.api_key: a recipe never holds a key; put it in an environment variable "
                          "and name that variable with teacher.api_key_env")
    return load_recipe_data(DistillRecipe, data, path)


# Keys that change how a run goes, not what it writes (a teacher that moved to another port is the same teacher).
_RUN_ONLY = {"concurrency"} | {
    f"{who}.{key}" for who in ("teacher", "keep.judge")
    for key in ("url", "api_key_env", "stream", "timeout_s", "retries", "backoff_s", "max_consecutive_failures")}


def identity(recipe: DistillRecipe) -> dict[str, Any]:
    """The recipe as plain data, without the keys that may change between runs on one output folder."""
    data = to_dict(recipe)
    for dotted in _RUN_ONLY:
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    for source in data["prompts"]:
        source.pop("n", None)
    return data


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    """'teacher.temperature: 0.7 -> 0.8': the first key whose value differs, or None when equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(dict.fromkeys([*old, *new])):
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, f"{where}.{i}")
            if found:
                return found
        return None
    return None if old == new else f"{where}: {old!r} -> {new!r}"


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> DistillRecipe:
    return load_dataclass(DistillRecipe, data, where)
