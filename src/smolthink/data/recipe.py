"""The data recipe: which sources, how much of each, which filters, which training phases (windows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from smolthink.config import ConfigError, apply_overrides, beside_recipe, load_dataclass, load_recipe_data, read_yaml

SourceType = Literal["hf", "local", "synthetic-reasoning", "synthetic-tools", "reasoning-gym", "distilled"]


@dataclass
class SourceSpec:
    name: str  # how the source is called in counts, quarantine and manifest
    type: SourceType
    # hf
    hf_id: str | None = None
    config: str | None = None
    split: str | None = None
    streaming: bool = False
    data_files: str | list[str] | None = None  # a local copy in the upstream schema (offline mirrors, tests)
    # local
    path: str | None = None
    # generators
    n: int | None = None  # how many to generate (generators) or read at most (hf, local)
    seed: int = 0
    tasks: list[str] | None = None  # synthetic-reasoning / reasoning-gym task names
    kinds: list[str] | None = None  # synthetic-tools kinds (a kind listed twice comes twice as often)
    # synthetic-tools, the `generated` kind: relative weights of the decisions {one, several, none} (how many offered
    # functions fit; one left out is never drawn) and the share of call items answered from a tool result.
    # Unset: function_space's DECISION_WEIGHTS and RESULT_SHARE.
    decisions: dict[str, float] | None = None
    result_share: float | None = None
    solutions: bool = False  # reasoning-gym: answer each question with a worked solution (training data)
    # mixture: `count` examples after filtering, or a `weight` share of the recipe's `size`; neither → all
    count: int | None = None
    weight: float | None = None
    reasoning_words: int | None = None  # per-source override of the recipe's budget


@dataclass
class Dedup:
    exact: bool = True
    near: bool = True
    threshold: float = 0.9  # MinHash Jaccard similarity above which two conversations are near-duplicates
    num_perm: int = 64


@dataclass
class Phase:
    name: str
    window: int  # tokens per window; longer sequences are cut into rolling windows
    stride: int  # a new window starts every `stride` tokens


@dataclass
class DataRecipe:
    name: str
    sources: list[SourceSpec]
    phases: list[Phase] = field(default_factory=lambda: [Phase("phase1", 832, 104), Phase("phase2", 3072, 768)])
    seed: int = 0
    size: int | None = None  # total examples for weighted sources
    validation: float = 0.02  # fraction held out
    reasoning_words: int = 256  # drop examples whose longest reasoning exceeds this many words
    max_turns: int = 32  # drop conversations with more messages
    dedup: Dedup = field(default_factory=Dedup)
    enable_thinking: bool = True
    # Share of examples rendered in no-think mode (reasoning dropped, empty think block), so a tuned model still
    # obeys /no_think; the rest are rendered with their reasoning. Chosen per example with a seeded RNG.
    no_think_fraction: float = 0.0
    tokenizer: str = "smollm2-135m"  # a model reference whose tokenizer tokenizes the data
    # The chat format the data is rendered in: smolthink's (templates/smollm2.jinja), or `model`, the tokenizer's own
    # template, which then also saves with the run and renders at chat, serve, eval and export: one format throughout.
    # It must mark what the model generates with {% generation %} spans (assistant-only loss) and render tools.
    chat_template: Literal["smolthink", "model"] = "smolthink"
    # With `chat_template: model`: tools as SmolLM3's `xml_tools` (calls <tool_call>{json}</tool_call>) or
    # `python_tools` (calls <code>f(x=1)</code>).
    tool_style: Literal["xml", "python"] = "xml"
    # The file the recipe was read from (set by load_recipe), which a build must not delete. A plain attribute, not
    # a field: not a recipe key, and not in the manifest (a moved recipe is the same recipe).
    recipe_file = None

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"source names must be unique, got {names}")
        if not self.sources:
            raise ConfigError("a recipe needs at least one source")
        if not 0 <= self.no_think_fraction <= 1:
            raise ConfigError(f"no_think_fraction must be a fraction in [0, 1], got {self.no_think_fraction}")
        if not 0 <= self.validation < 1:
            raise ConfigError(f"validation must be a fraction in [0, 1), got {self.validation}")
        for s in self.sources:
            needs = {"hf": "hf_id", "local": "path", "distilled": "path"}.get(s.type)
            if needs and not getattr(s, needs):
                raise ConfigError(f"source {s.name!r} of type {s.type!r} needs {needs!r}")
            if s.type in ("synthetic-reasoning", "synthetic-tools", "reasoning-gym") and not s.n:
                raise ConfigError(f"source {s.name!r} of type {s.type!r} needs n (how many to generate)")
            if s.count is not None and s.weight is not None:
                raise ConfigError(f"source {s.name!r}: give count or weight, not both")
            _check_generated_knobs(s)
        if any(s.weight is not None for s in self.sources) and not self.size:
            raise ConfigError("weighted sources need the recipe's total `size`")
        if self.tool_style == "python" and self.chat_template != "model":
            raise ConfigError("tool_style: python needs chat_template: model (a template with SmolLM3's python_tools); "
                              "smolthink's template writes calls as <tool_call> JSON")
        for p in self.phases:
            if p.window <= 0 or p.stride <= 0 or p.stride > p.window:
                raise ConfigError(f"phase {p.name!r}: need 0 < stride <= window, got window={p.window}, stride={p.stride}")


def _check_generated_knobs(s: SourceSpec) -> None:
    """`decisions` and `result_share` shape the generated kind of synthetic-tools: set anywhere else they would do
    nothing, so that is an error, as is a value the generator cannot draw with."""
    knobs = [k for k in ("decisions", "result_share") if getattr(s, k) is not None]
    if not knobs:
        return
    if s.type != "synthetic-tools":
        raise ConfigError(f"source {s.name!r}: {knobs[0]} applies to synthetic-tools sources only, not {s.type!r}")
    if s.kinds is not None and "generated" not in s.kinds:
        raise ConfigError(f"source {s.name!r}: {knobs[0]} shapes the generated kind, which its kinds do not list")
    if s.decisions is not None:
        from smolthink.data.sources.function_space import decision_weights

        try:
            decision_weights(s.decisions)
        except ValueError as e:
            raise ConfigError(f"source {s.name!r}: decisions: {e}") from None
    if s.result_share is not None and not 0 <= s.result_share <= 1:
        raise ConfigError(f"source {s.name!r}: result_share must be a fraction in [0, 1], got {s.result_share}")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> DataRecipe:
    data = apply_overrides(read_yaml(path), overrides or [], str(path))
    sources = data.get("sources") if isinstance(data, dict) else None
    for source in sources if isinstance(sources, list) else []:  # a wrong shape is reported by load_recipe_data
        if isinstance(source, dict) and "path" in source:
            source["path"] = beside_recipe(source["path"], path)  # local files and distill folders
    return load_recipe_data(DataRecipe, data, path)


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> DataRecipe:
    return load_dataclass(DataRecipe, data, where)
