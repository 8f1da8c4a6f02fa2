"""The BFCL suite: Berkeley Function Calling Leaderboard single-turn categories, scored by BFCL's own AST checker.

Data and checker come from the installed `bfcl-eval` package (installed with `--no-deps`). `load_cases` turns each
BFCL entry into a `Case` whose tools are proper JSON schemas; `score` hands the parsed tool calls to
`bfcl_eval`'s `ast_checker` with the entry's original function docs and ground truth, as BFCL's eval runner does.
Irrelevance-type categories have no checker: they pass when the model makes no call (relevance: at least one).

Dev and test: every entry belongs to one split by a hash of its id (`cases.split_of`: sha256(id) % 3 == 0 is dev,
about a third). `load_cases(split=...)` keeps one split ("all", the whole category, unless asked; the runner asks
for `EvalOptions.split`, "test" by default) and `limit` then takes the first N of it in file order.

Two things stand between us and a plain `import`:
- the checker imports `bfcl_eval.constants.model_config`, which imports every vendor SDK. It only reads
  `MODEL_CONFIG_MAPPING[model].underscore_to_dot`, so a stand-in module answering False for any model is
  registered in `sys.modules` first (unless the real one is already loaded);
- `bfcl_eval.utils` (whose prompt pre-processing we reuse) creates `result/`, `score/` and `.file_locks/` under
  `$BFCL_PROJECT_ROOT`, which we point into smolthink's cache unless the caller set it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
import types
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from smolthink.errors import UserError
from smolthink.eval.cases import Case, Scored, check_split, in_split, sample
from smolthink.formats import ParsedOutput

SUITE = "bfcl"
DEFAULT_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
VERSION_PREFIX = "BFCL_v4"
INSTALL_HINT = "pip install --no-deps bfcl-eval==2026.3.23"
MODEL_NAME = "smolthink"  # the checker only uses it to look up underscore_to_dot, which the stand-in answers


class BFCLNotInstalledError(UserError, ImportError):
    """bfcl-eval is missing; the message carries the install command."""


# ------------------------------------------------------------------------------------------------- bfcl_eval


def _data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or spec.origin is None:
        raise BFCLNotInstalledError(
            f"the BFCL suite needs the bfcl-eval package, which is not installed: {INSTALL_HINT}"
        )
    return Path(spec.origin).parent / "data"


def _prepare_import() -> None:
    """Make `bfcl_eval`'s checker and utils importable without the vendor SDKs or writing into site-packages."""
    _data_dir()  # fail with the install hint before any import error
    from smolthink.models import cache_root

    os.environ.setdefault("BFCL_PROJECT_ROOT", str(cache_root() / "bfcl"))
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules:
        sys.modules[name] = _model_config_stand_in(name)


def _model_config_stand_in(name: str) -> types.ModuleType:
    class AnyModel(dict):
        def __missing__(self, key: str) -> types.SimpleNamespace:
            return types.SimpleNamespace(model_name=key, underscore_to_dot=False)

    module = types.ModuleType(name, "smolthink's stand-in: every model keeps dotted function names as they are.")
    module.MODEL_CONFIG_MAPPING = AnyModel()
    return module


@cache
def _checker() -> tuple[Any, Any]:
    """(ast_checker, Language), imported once."""
    _prepare_import()
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker, Language


@cache
def _hint_function_docs() -> Any:
    """BFCL's prompt pre-processing: appends "Note that the provided function is in Python 3 syntax." (Java 8 /
    JavaScript) to every description and, for Java/JavaScript, turns parameters into strings holding source
    literals, the form the checker expects for those languages."""
    _prepare_import()
    from bfcl_eval.utils import add_language_specific_hint_to_function_doc

    return add_language_specific_hint_to_function_doc


# ---------------------------------------------------------------------------------------------------- loading


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _is_single_turn_file(path: Path) -> bool:
    """A question file whose entries carry their own function docs and exactly one turn (multi-turn, memory and
    web-search entries get theirs from elsewhere; format_sensitivity is an id list, not JSON Lines)."""
    with path.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        entry = json.loads(first)
    except json.JSONDecodeError:
        return False
    if not isinstance(entry, dict):
        return False
    question = entry.get("question")
    return isinstance(entry.get("function"), list) and isinstance(question, list) and len(question) == 1


def available_categories() -> list[str]:
    """The single-turn categories present in the installed BFCL data, sorted."""
    prefix = VERSION_PREFIX + "_"
    return sorted(
        path.stem[len(prefix) :]
        for path in _data_dir().glob(f"{prefix}*.json")
        if _is_single_turn_file(path)
    )


def _is_relevance_type(category: str) -> bool:
    """irrelevance / live_irrelevance / live_relevance: judged by whether a call was made, no ground truth."""
    return "relevance" in category


# JSON Schema spellings of BFCL's Python/Java/JavaScript type names. "any" becomes "string" as in BFCL's own
# GORILLA_TO_OPENAPI table: the checker reads an "any" parameter as a str, and every such ground truth is one.
_JSON_TYPES = {
    "string": "string", "String": "string", "char": "string", "any": "string", "Any": "string",
    "integer": "integer", "long": "integer", "short": "integer", "byte": "integer", "Bigint": "integer",
    "float": "number", "double": "number", "number": "number",
    "boolean": "boolean", "Boolean": "boolean", "bool": "boolean",
    "array": "array", "tuple": "array", "list": "array", "Array": "array", "ArrayList": "array",
    "Queue": "array", "Stack": "array",
    "dict": "object", "object": "object", "HashMap": "object", "Hashtable": "object",
}  # fmt: skip


def _to_json_schema(node: Any, where: str) -> Any:
    """A copy of a BFCL parameter schema with JSON Schema type names; other keys are kept as they are."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "type" in out:
        kind = out["type"]
        if kind not in _JSON_TYPES:
            raise ValueError(f"{where}: BFCL type {kind!r} has no JSON Schema equivalent in smolthink.eval.bfcl")
        out["type"] = _JSON_TYPES[kind]
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _to_json_schema(v, f"{where}.{k}") for k, v in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _to_json_schema(out["items"], f"{where}[]")
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _to_json_schema(out["additionalProperties"], f"{where}{{}}")
    return out


def _tools(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's function docs as the model sees them: BFCL's language hints, then JSON Schema types."""
    hinted = _hint_function_docs()([{"id": entry["id"], "function": copy.deepcopy(entry["function"])}])[0]["function"]
    return [
        {
            "type": "function",
            "function": {
                "name": fn["name"],
                "description": fn.get("description", ""),
                "parameters": _to_json_schema(fn["parameters"], f"{entry['id']}:{fn['name']}"),
            },
        }
        for fn in hinted
    ]


def _case(entry: dict[str, Any], category: str, ground_truth: list[dict[str, Any]] | None, thinking: bool) -> Case:
    question = entry["question"]
    if len(question) != 1:
        raise ValueError(f"{entry['id']}: expected a single-turn question, got {len(question)} turns")
    return Case(
        suite=SUITE,
        category=category,
        id=entry["id"],
        messages=[{"role": m["role"], "content": m["content"]} for m in question[0]],
        tools=_tools(entry),
        enable_thinking=thinking,
        meta={"function": entry["function"], "ground_truth": ground_truth},
    )


def load_cases(
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    *,
    limit: int | None = None,
    enable_thinking: bool = True,
    split: str = "all",
) -> list[Case]:
    """The cases of the given categories that fall in `split` ("dev", "test" or "all"; see cases.split_of), in file
    order; `limit` keeps a fixed random sample of N of each category's split (cases.sample)."""
    if isinstance(categories, str):
        categories = [categories]
    valid = available_categories()
    unknown = [c for c in categories if c not in valid]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown BFCL categor{'y' if len(unknown) == 1 else 'ies'} {names}; valid: {', '.join(valid)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    check_split(split)
    data = _data_dir()
    cases: list[Case] = []
    for category in dict.fromkeys(categories):  # a category named twice would duplicate ids
        entries = [e for e in _read_jsonl(data / f"{VERSION_PREFIX}_{category}.json") if in_split(e["id"], split)]
        keep = set(sample([e["id"] for e in entries], limit))
        entries = [e for e in entries if e["id"] in keep]
        answers: dict[str, Any] = {}
        if not _is_relevance_type(category):
            answer_file = data / "possible_answer" / f"{VERSION_PREFIX}_{category}.json"
            answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_file)}
        for entry in entries:
            if not _is_relevance_type(category) and entry["id"] not in answers:
                raise ValueError(f"{entry['id']}: no ground truth in BFCL's possible_answer file for {category}")
            cases.append(_case(entry, category, answers.get(entry["id"]), enable_thinking))
    return cases


def split_sizes(categories: Sequence[str], split: str = "all") -> dict[str, int]:
    """{category: number of its cases in `split`}: what `load_cases` returns without a limit."""
    data = _data_dir()
    return {c: sum(in_split(e["id"], split) for e in _read_jsonl(data / f"{VERSION_PREFIX}_{c}.json"))
            for c in dict.fromkeys(categories)}


# ---------------------------------------------------------------------------------------------------- scoring


def _language(category: str) -> Any:
    Language = _checker()[1]
    if "javascript" in category:
        return Language.JAVASCRIPT
    if "java" in category:
        return Language.JAVA
    return Language.PYTHON


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def score(case: Case, parsed: ParsedOutput) -> Scored:
    """Judge one parsed model turn against the case's BFCL ground truth. Never raises on model output."""
    calls = [c["function"] for c in parsed.tool_calls]
    parse_errors = "; ".join(parsed.call_errors)

    def result(correct: bool, detail: str = "") -> Scored:
        return Scored(case.id, case.category, correct, 1.0 if correct else 0.0, "" if correct else detail)

    if "irrelevance" in case.category:
        names = ", ".join(c["name"] for c in calls)
        return result(not calls, f"called {names} where no call was expected")
    if _is_relevance_type(case.category):
        return result(bool(calls), _join("no tool call", parse_errors))
    if not calls:
        return result(False, _join("no tool call", parse_errors))

    ast_checker = _checker()[0]
    model_output = [{c["name"]: c["arguments"]} for c in calls]
    try:
        checked = ast_checker(
            func_description=case.meta["function"],
            model_output=model_output,
            possible_answer=case.meta["ground_truth"],
            language=_language(case.category),
            test_category=case.category,
            model_name=MODEL_NAME,
        )
    except Exception as e:  # the checker indexes and converts model values freely; odd values make it raise
        return result(False, _join(f"checker raised {type(e).__name__}: {e}", parse_errors))
    errors = "; ".join(map(str, checked.get("error", [])))
    error_type = checked.get("error_type", "")
    return result(bool(checked["valid"]), _join(errors + (f" [{error_type}]" if error_type else ""), parse_errors))
