"""Recipes: folders with ``config.yaml`` and ``recipe.py``, found by path or bundled name, and run."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterable
from pathlib import Path

from seqkit.errors import SeqkitError, nearest

BUNDLED = Path(__file__).resolve().parent / "bundled" / "recipes"  # shipped in the wheel; ./recipes links here
OVERLAYS = BUNDLED.parent / "configs"  # the overlays shared by all recipes; ./configs links here


def bundled() -> dict[str, Path]:
    """The recipes shipped with seqkit, by name."""
    if not BUNDLED.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED.iterdir()) if (p / "recipe.py").is_file()}


def find_recipe(name: str | Path) -> Path:
    """A recipe folder from a path or the name of a bundled recipe."""
    path = Path(name)
    if path.is_file() and path.name in ("config.yaml", "recipe.py"):
        path = path.parent  # the recipe's own config or code: its folder is the recipe
    if path.is_dir():
        if not (path / "recipe.py").is_file() or not (path / "config.yaml").is_file():
            raise SeqkitError(f"{path} is not a recipe folder: it needs recipe.py and config.yaml")
        return path
    if str(name) in bundled():
        return bundled()[str(name)]
    raise SeqkitError(f"recipe {str(name)!r} not found; give a recipe folder or a bundled name "
                      f"({nearest(str(name), bundled())})")


def bundled_overlays() -> dict[str, Path]:
    """The overlays shipped with seqkit (debug, cpu, gpu, ddp), by name."""
    return {p.stem: p for p in sorted(OVERLAYS.glob("*.yaml"))} if OVERLAYS.is_dir() else {}


def find_overlay(name: str | Path) -> Path:
    """An overlay file from a path, or a bundled overlay by its name (``debug``, ``debug.yaml``, or
    ``configs/debug.yaml`` where no such file is, as outside the repository).

    Example:
        >>> find_overlay("debug") == find_overlay("nowhere/../configs/debug.yaml") == OVERLAYS / "debug.yaml"
        True
    """
    path = Path(name)
    if path.exists() or Path(path.parent.name) not in (Path("."), Path("configs")):
        return path  # a path of one's own: `load_config` names it if it is missing or broken
    return bundled_overlays().get(path.stem if path.suffix == ".yaml" else path.name, path)


def run_recipe(recipe: str | Path, overrides: Iterable[str] = (), overlays: Iterable[str | Path] = (),
               resume: str | Path | None = None):
    """Load a recipe's config with overlays and overrides, then call its ``main(cfg)``.

    With `resume` (a run directory), the run continues from its ``checkpoints/last.ckpt``; the
    settings must be the run's own (its ``config.yaml``), and no file of it is removed.
    ``recipe.py`` is Python code and runs as such: run recipes you trust.
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from seqkit.config import load_config  # torch and the blocks load only when a recipe runs
    from seqkit.runs import check_free, check_resume, created_runs, discard_unfinished, is_main_process, resume_run

    folder = find_recipe(recipe)
    cfg = load_config(folder, [find_overlay(o) for o in overlays], overrides)
    if resume is not None:
        check_resume(resume, cfg, (folder / "recipe.py").resolve().parent.name)  # the name its runs record
        cfg.run_dir = str(resume)
    elif cfg.get("run_dir") and is_main_process():
        check_free(cfg.run_dir)
    spec = importlib.util.spec_from_file_location(f"seqkit_recipe_{folder.name}", folder / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise SeqkitError(f"{folder / 'recipe.py'} defines no main(cfg)")
    before = created_runs()
    try:
        with resume_run(resume):
            return module.main(cfg)
    except MisconfigurationException as err:  # a trainer setting Lightning rejects once it sees the data
        discard_unfinished(before)
        raise SeqkitError(f"trainer settings: {' '.join(str(err).split())} (fix that trainer.* value in the "
                          f"recipe's config.yaml or on the command line)") from None
    except SeqkitError:
        discard_unfinished(before)
        raise


# `seqkit new`: which bundled recipe a head's task starts from, and what each front-end reads.
BASE_OF_HEAD = {"forecast": "ltsf", "ctc": "asr", "softmax": "lm", "adaptive_softmax": "lm",
                "classify": "kws"}
READS = {"segmenter": "a CSV time series", "conv_spectrogram": "audio", "embedding": "text"}
BASE_READS = {"ltsf": "a CSV time series", "asr": "audio", "lm": "text", "kws": "audio"}


def new_recipe(dest: str | Path, frontend: str, backend: str, head: str, data: str | None = None) -> Path:
    """Write a ready recipe folder (config.yaml, recipe.py, README.md) for the named blocks.

    The task follows from the head (``forecast``: forecasting, ``ctc``: speech recognition,
    ``softmax``: language modelling, ``classify``: spoken-word classification); the bundled
    recipe of that task gives the training loop and the settings, the named blocks replace its
    model (keeping the arguments a new block shares with the old one), and `data` its data path.
    """
    from omegaconf import OmegaConf

    from seqkit.blocks import TABLES, parameters

    dest = Path(dest)
    if dest.exists():
        raise SeqkitError(f"{dest} already exists; choose a new folder name")
    for kind, name in (("frontend", frontend), ("backend", backend), ("head", head)):
        if name not in TABLES[kind]:
            raise SeqkitError(f"--{kind} {name!r}: unknown; {nearest(name, TABLES[kind])}")
    if head not in BASE_OF_HEAD:
        raise SeqkitError(f"--head {head!r} has no recipe to start from; use one of {', '.join(BASE_OF_HEAD)}")
    base = BASE_OF_HEAD[head]
    if READS[frontend] != BASE_READS[base]:
        raise SeqkitError(f"--frontend {frontend} reads {READS[frontend]}, but the {head} head's task ({base}) "
                          f"reads {BASE_READS[base]}; pick a front-end for {BASE_READS[base]}")
    source = bundled()[base]
    cfg = OmegaConf.load(source / "config.yaml")
    for kind, name in (("frontend", frontend), ("backend", backend), ("head", head)):
        old = dict(cfg.model[kind])
        accepted = parameters(TABLES[kind][name])
        cfg.model[kind] = {"name": name, **{k: v for k, v in old.items() if k != "name" and k in accepted}}
    if data is not None:
        from seqkit.data.root import ARCHIVES, KNOWN, data_root

        path, (root, _) = Path(data).expanduser(), data_root()
        known = str(data) in KNOWN or any(str(data).startswith(f"{name}/") or str(data) == name for name in ARCHIVES)
        if not path.exists() and not (root / data).exists() and not known:
            raise SeqkitError(f"--data {data}: no such file or folder, here or under the data root {root}; give the "
                              f"path of your CSV, audio folder or text file")
        cfg.data.path = str(path.resolve()) if path.exists() else str(data)
    dest.mkdir(parents=True)
    command = f"seqkit new {dest.name} --frontend {frontend} --backend {backend} --head {head}"
    header = (f"# {dest.name}: {frontend} -> {backend} -> {head}, written by `{command}` from recipes/{base}.\n"
              f"# Run:   seqkit run {dest}            (add -c configs/debug.yaml for a quick check)\n"
              f"# Every value is explained in recipes/{base}/config.yaml; `seqkit blocks` lists the blocks.\n")
    (dest / "config.yaml").write_text(header + OmegaConf.to_yaml(cfg), encoding="utf-8")
    shutil.copyfile(source / "recipe.py", dest / "recipe.py")  # it names its runs after its own folder
    (dest / "README.md").write_text(
        f"# {dest.name}: {frontend} -> {backend} -> {head}\n\n"
        f"Written by `{command}`, starting from the bundled `recipes/{base}` (its README explains the task,\n"
        f"the data and the metrics). Data: `{cfg.data.path}`.\n\n"
        f"```\nseqkit run {dest}                      # train, test, report into runs/{dest.name}/\n"
        f"seqkit run {dest} -c configs/debug.yaml  # a few batches, to check it runs\n```\n\n"
        f"Edit `config.yaml` to change sizes or blocks (one word each) and `recipe.py` for the steps.\n",
        encoding="utf-8")
    return dest
