"""Recipes: folders with ``config.yaml`` and ``recipe.py``, found by path or bundled name, and run."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from seqkit.errors import SeqkitError, nearest

BUNDLED = Path(__file__).resolve().parent.parent / "recipes"


def bundled() -> dict[str, Path]:
    """The recipes shipped with seqkit, by name."""
    if not BUNDLED.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED.iterdir()) if (p / "recipe.py").is_file()}


def find_recipe(name: str | Path) -> Path:
    """A recipe folder from a path or the name of a bundled recipe."""
    path = Path(name)
    if path.is_dir():
        if not (path / "recipe.py").is_file() or not (path / "config.yaml").is_file():
            raise SeqkitError(f"{path} is not a recipe folder: it needs recipe.py and config.yaml")
        return path
    if str(name) in bundled():
        return bundled()[str(name)]
    raise SeqkitError(f"recipe {str(name)!r} not found; give a recipe folder or a bundled name "
                      f"({nearest(str(name), bundled())})")


def run_recipe(recipe: str | Path, overrides: Iterable[str] = (), overlays: Iterable[str | Path] = ()):
    """Load a recipe's config with overlays and overrides, then call its ``main(cfg)``.

    ``recipe.py`` is Python code and runs as such: run recipes you trust.
    """
    from seqkit.config import load_config  # torch and the blocks load only when a recipe runs
    from seqkit.runs import check_free

    folder = find_recipe(recipe)
    cfg = load_config(folder, overlays, overrides)
    if cfg.get("run_dir"):
        check_free(cfg.run_dir)
    spec = importlib.util.spec_from_file_location(f"seqkit_recipe_{folder.name}", folder / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise SeqkitError(f"{folder / 'recipe.py'} defines no main(cfg)")
    return module.main(cfg)
