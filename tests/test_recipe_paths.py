"""A recipe's relative paths mean the files beside the recipe, so shipped recipes work from any directory."""

from pathlib import Path

from smolthink.data.recipe import load_recipe
from smolthink.train.config import load_train_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_training_recipes_find_their_data_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        data = Path(load_train_recipe(path).recipe.data)
        assert data.is_file() and data.parent == ROOT / "recipes" / "data", path.name


def test_a_path_beside_the_recipe_wins_and_the_old_cwd_form_still_works(tmp_path, monkeypatch):
    recipes = tmp_path / "recipes"
    (recipes / "data").mkdir(parents=True)
    (recipes / "data" / "rows.jsonl").write_text("{}\n")
    (tmp_path / "rows.jsonl").write_text("{}\n")
    text = ("name: r\ntokenizer: smollm2-135m\nphases: [{name: p, window: 64, stride: 64}]\n"
            "sources: [{name: a, type: local, path: data/rows.jsonl}, {name: b, type: local, path: rows.jsonl}]\n")
    (recipes / "mix.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    a, b = load_recipe(recipes / "mix.yaml").sources
    assert Path(a.path) == recipes / "data" / "rows.jsonl"  # beside the recipe
    assert b.path == "rows.jsonl"  # nothing beside it: the current directory, as before
