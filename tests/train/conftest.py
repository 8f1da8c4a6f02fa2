"""Training fixtures: a small built dataset (synthetic reasoning + tool calls, SmolLM2 tokenizer)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer) -> Path:
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    recipe = recipe_from_dict({
        "name": "tiny", "seed": 0, "validation": 0.1, "tokenizer": "smollm2-135m",
        "sources": [
            {"name": "reasoning", "type": "synthetic-reasoning", "n": 24, "seed": 11},
            {"name": "tools", "type": "synthetic-tools", "n": 16, "seed": 12},
        ],
        "phases": [{"name": "short", "window": 384, "stride": 96}, {"name": "long", "window": 1024, "stride": 256}],
    })
    out = tmp_path_factory.mktemp("data") / "tiny"
    build(recipe, out)
    return out
