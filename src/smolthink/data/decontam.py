"""Decontamination from what was built: hashes of every training prompt, and the eval cases they rule out.

`data build` writes `prompts.sha256` beside its manifest: one hash per distinct user turn of the mixture (train and
validation), sorted. `smolthink eval` finds the build a model was trained on (the run's `train_config.json` names
its data folder; an exported GGUF carries the run folder in its `smolthink.run_dir` metadata) and skips every case
whose user turn has one of those hashes, for every model of the comparison, so paired numbers stay paired. It
reports how many it skipped. This covers any recipe, including a user's own, without a hand-kept list of sources.

A prompt's hash is sha256 over its text with surrounding whitespace removed (hex, first 16 digits: 64 bits, so a
chance collision among a few hundred thousand prompts is below one in a hundred million).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HASH_FILE = "prompts.sha256"


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def user_prompts(messages: Iterable[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]


def hashes_of(conversations: Iterable[Iterable[dict[str, Any]]]) -> list[str]:
    """Sorted distinct hashes of the user turns of the conversations."""
    return sorted({prompt_hash(text) for messages in conversations for text in user_prompts(messages)})


def read_hashes(path: str | Path) -> frozenset[str]:
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split()
    bad = next((line for line in lines if len(line) != 16 or any(c not in "0123456789abcdef" for c in line)), None)
    if bad is not None:
        raise ValueError(f"{path}: not a prompt hash file (found {bad[:40]!r}; expected 16 hex digits a line)")
    return frozenset(lines)


def _gguf_run_dir(path: Path) -> Path | None:
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).get_field("smolthink.run_dir")
    except Exception:  # not a readable GGUF, or no such field: nothing to decontaminate against
        return None
    if field is None:
        return None
    return Path(bytes(field.parts[field.data[0]]).decode("utf-8"))


def training_data_of(model_path: str | Path | None) -> Path | None:
    """The data build a local model was trained on, when it says so: a training run folder (its train_config.json
    names the data folder) or a GGUF exported from one. None for anything else (the embedded model, a hub id)."""
    if model_path is None:
        return None
    path = Path(model_path)
    if path.is_file() and path.suffix == ".gguf":
        run = _gguf_run_dir(path)
        if run is None:
            return None
        path = run
    config = path / "train_config.json"
    if not config.is_file():
        return None
    try:
        data_dir = json.loads(config.read_text(encoding="utf-8")).get("data_dir")
    except (OSError, ValueError):
        return None
    return Path(data_dir) if isinstance(data_dir, str) else None


def training_hashes(data_dirs: Iterable[Path]) -> tuple[frozenset[str], list[str]]:
    """(union of the prompt hashes of the builds, the hash files read). A build older than this feature has no
    hash file: it is named in the second list with a note instead."""
    hashes: set[str] = set()
    read: list[str] = []
    for folder in dict.fromkeys(data_dirs):
        path = Path(folder) / HASH_FILE
        if path.is_file():
            hashes |= read_hashes(path)
            read.append(str(path))
        else:
            read.append(f"{path} (missing: build the data again to decontaminate against it)")
    return frozenset(hashes), read
