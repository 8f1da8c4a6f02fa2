"""Recipes are data: YAML files loaded into dataclasses, with errors that name the file, the field and the fix.

`load_dataclass(cls, mapping, where)` builds a (nested) dataclass from a mapping, checking every key: an unknown key
is an error that suggests the closest valid one, a wrong type names the field and the expected type. `--set`
overrides (`key.sub=value`, values parsed as YAML) are applied to the mapping before it is loaded, so
defaults < YAML < CLI.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from smolthink.errors import UserError


class ConfigError(UserError, ValueError):
    """A recipe problem; the message names the file and the field."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r}); "
                          "save the recipe as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the recipe: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of keys to values, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], where: str) -> dict[str, Any]:
    """Apply `a.b=value` overrides (value parsed as YAML; list items addressed by index: `sources.0.n=10`)."""
    data = _deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: --set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            path = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, list):
                index = _list_index(part, len(node), path, where)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                parent = ".".join(parts[:depth])
                raise ConfigError(f"{where}: --set {key}: {parent} is {node!r}, not a mapping or a list, "
                                  f"so it has no key {part!r}")
    return data


def _list_index(part: str, length: int, path: str, where: str) -> int:
    """`part` as an index into a list of `length` items, or a ConfigError naming the override's path."""
    if not part.isdigit():
        raise ConfigError(f"{where}: --set {path}: a list is addressed by an index 0..{length - 1}, got {part!r}")
    if int(part) >= length:
        raise ConfigError(f"{where}: --set {path}: index {part} is out of range (the list has {length} items)")
    return int(part)


def beside_recipe(value: Any, recipe_path: str | Path) -> Any:
    """A relative path in a recipe means the file beside the recipe when there is one (shipped recipes work from any
    directory); otherwise it stays relative to the current directory, as before."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    beside = Path(recipe_path).parent / value
    return str(beside) if beside.exists() else value


def load_recipe_data(cls: type, data: dict[str, Any], path: str | Path) -> Any:
    """Recipe dataclass `cls` from the mapping read from `path` (overrides applied): every error names the file,
    and the recipe remembers where it came from (`recipe_file`, not a recipe key: outputs refuse to swallow it)."""
    try:
        recipe = load_dataclass(cls, data, str(path))
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    recipe.recipe_file = Path(path)
    return recipe


def _deepcopy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value


def load_dataclass(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from `data`, checking keys and types; `where` prefixes every error ("file.yaml: sources[0]")."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} does not match {tp}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ConfigError(f"{where}: {value!r} is not one of {choices}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return load_dataclass(tp, value, where)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            value = _float_or_text(value)  # YAML 1.1 reads 2e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _float_or_text(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def to_dict(obj: Any) -> Any:
    """A dataclass (tree) as plain data, for saving the resolved recipe beside every output."""
    return dataclasses.asdict(obj)
