"""Run directories: one per run, never overwritten, with the resolved config, metrics and log."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")


def check_free(run_dir: str | Path) -> Path:
    """Fail if `run_dir` already holds files: a run never overwrites an earlier one."""
    path = Path(run_dir)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SeqkitError(f"run directory {path} already holds a run; choose another run_dir "
                          f"or leave run_dir unset for a new timestamped one")
    return path


# The run directory `seqkit run ... --resume RUN_DIR` continues (None: a new run).
_resume: Path | None = None


# The run directories this process created (`discard_unfinished` removes a refused run's).
_created: list[Path] = []


def created_runs() -> int:
    """How many run directories this process has created so far."""
    return len(_created)


def discard_unfinished(since: int) -> None:
    """Remove the run directories created after the first `since` that hold no checkpoint: a run
    refused after its directory was made (a setting Lightning rejects at the start of training)
    leaves nothing behind. A directory with a checkpoint, or any other, is kept."""
    import shutil

    for path in _created[since:]:
        if path.is_dir() and not any((path / "checkpoints").glob("*.ckpt")):
            detach_log()
            shutil.rmtree(path, ignore_errors=True)
    del _created[since:]


def resuming() -> Path | None:
    """The run directory being resumed, if any (`make_trainer` then continues from its last.ckpt)."""
    return _resume


@contextmanager
def resume_run(run_dir: str | Path | None) -> Iterator[None]:
    """Within this block, `create_run_dir` and `make_trainer` continue the run in `run_dir`."""
    global _resume
    previous, _resume = _resume, (Path(run_dir) if run_dir is not None else None)
    try:
        yield
    finally:
        _resume = previous


def is_main_process() -> bool:
    """False in the extra processes of a multi-process run (Lightning DDP, torchrun, SLURM)."""
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


# Settings that change what a run shows, never what it computes: a resume may give them other values.
DISPLAY_ONLY = ("trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps")


def check_resume(run_dir: str | Path, cfg: DictConfig, recipe: str | None = None) -> Path:
    """Fail unless `run_dir` holds an unfinished run of `recipe` (a recipe folder's name) trained with
    the settings of `cfg` (any values of the `DISPLAY_ONLY` ones)."""
    path = Path(run_dir)
    if not (path / "config.yaml").is_file():
        raise SeqkitError(f"--resume {path}: not a run directory (no config.yaml); give the folder a run wrote")
    if (path / "metrics.json").is_file():
        raise SeqkitError(f"--resume {path}: that run has finished (metrics.json is there); nothing to resume")
    recorded = recorded_recipe(path)
    if recipe is not None and recorded not in (None, recipe):
        raise _other_recipe(path, recorded, recipe)
    saved = OmegaConf.to_container(OmegaConf.load(path / "config.yaml"), resolve=True)
    now = OmegaConf.to_container(cfg, resolve=True)
    for tree in (saved, now):
        tree.pop("run_dir", None)
        for key in DISPLAY_ONLY:
            section, _, name = key.partition(".")
            if isinstance(tree.get(section), dict):
                tree[section].pop(name, None)
    difference = _first_difference(saved, now)
    if difference:
        folder = default_run_recipe(path)  # no checkpoint to tell yet: a default run directory's name does
        if recipe is not None and recorded is None and folder not in (None, recipe):
            raise _other_recipe(path, folder, recipe)
        key, old, new = difference
        raise SeqkitError(f"--resume {path}: {key} is {new!r} here but {old!r} in {path / 'config.yaml'}; "
                          f"resume with the run's own overlays and overrides")
    return path


def _other_recipe(path: Path, made_by: str, recipe: str) -> SeqkitError:
    return SeqkitError(f"--resume {path}: that run was made by the recipe {made_by!r}, not {recipe!r}; resume it with "
                       f"`seqkit run <{made_by}'s folder> --resume {path}` and the run's own overlays and overrides")


def recorded_recipe(run_dir: Path) -> str | None:
    """The name of the recipe that made a run, as its checkpoints record it (None: no checkpoint yet)."""
    from seqkit.checkpoint import load_file  # torch loads only here

    for name in ("last.ckpt", "best.ckpt"):
        if (run_dir / "checkpoints" / name).is_file():
            info = load_file(run_dir / "checkpoints" / name).get("seqkit")
            return info.get("recipe") if isinstance(info, dict) else None
    return None


def default_run_recipe(run_dir: Path) -> str | None:
    """The recipe a default run directory (``runs/<recipe>/<date>-<time>``) is named after, else None.

    Example:
        >>> default_run_recipe(Path("runs/ltsf/20250101-120000-2")), default_run_recipe(Path("elsewhere/run"))
        ('ltsf', None)
    """
    run_dir = run_dir.absolute()
    named = re.fullmatch(r"\d{8}-\d{6}(-\d+)?", run_dir.name) and run_dir.parent.parent.name == "runs"
    return run_dir.parent.name if named else None


def _first_difference(old, new, prefix: str = ""):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(key, "<unset>"), new.get(key, "<unset>"), f"{prefix}{key}.")
            if found:
                return found
        return None
    if old == "<unset>" and new is None:  # a setting added to the recipe since, left at its default (null)
        return None
    return (prefix.rstrip("."), old, new) if old != new else None


def create_run_dir(cfg: DictConfig, recipe: str) -> Path:
    """Create the run's directory and write the resolved ``config.yaml`` and ``train.log`` there.

    ``cfg.run_dir`` names it; if unset, ``runs/<recipe>/<date>-<time>`` (with a suffix if taken).
    When resuming (`resume_run`), the existing directory is used as it is (the log is appended
    to). The extra processes of a multi-process run use the first process's directory and write
    nothing there themselves.
    """
    if not is_main_process():
        shared = os.environ.get("SEQKIT_RUN_DIR") or cfg.get("run_dir")
        if not shared:
            raise SeqkitError("a multi-process run started outside Lightning's launcher (torchrun, SLURM) "
                              "needs run_dir=<folder> set, the same for every process")
        return Path(shared)
    if _resume is not None:
        path = _resume
        attach_log(path / "train.log")
        log.info("run directory: %s (resumed)", path)
        os.environ["SEQKIT_RUN_DIR"] = str(path.resolve())
        return path
    if cfg.get("run_dir"):
        path = check_free(cfg.run_dir)
        existed = path.exists()  # an empty folder of the user's: used, and never removed
        path.mkdir(parents=True, exist_ok=True)
    else:
        existed = False
        base = Path("runs") / recipe / time.strftime("%Y%m%d-%H%M%S")
        path, n = base, 1
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                path, n = base.with_name(f"{base.name}-{n}"), n + 1
    if not existed:
        _created.append(path)
    OmegaConf.save(cfg, path / "config.yaml", resolve=True)
    attach_log(path / "train.log")
    log.info("run directory: %s", path)
    os.environ["SEQKIT_RUN_DIR"] = str(path.resolve())  # for the processes Lightning's DDP launches
    return path


class NoTips(logging.Filter):
    """Drop Lightning's advertising tips from the log, and its note that seqkit's own model summary
    (`seqkit.make_trainer`) stands in for its default one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "Tip:" not in message and "Skipping setting a default `ModelSummary`" not in message


def quiet_console() -> None:
    """Each log line once on stderr, without Lightning's advertisements: the ``lightning`` package
    adds a console handler of its own that repeats every line the root handler prints (call it
    once Lightning is imported, as `seqkit.make_trainer` does)."""
    lightning_log = logging.getLogger("lightning")
    if logging.getLogger().handlers:  # a console of the program's own (the seqkit command's)
        for handler in [h for h in lightning_log.handlers if type(h) is logging.StreamHandler]:
            lightning_log.removeHandler(handler)
    for handler in logging.getLogger().handlers + lightning_log.handlers:
        if not any(isinstance(f, NoTips) for f in handler.filters):
            handler.addFilter(NoTips())


def detach_log() -> None:
    """Stop copying log messages to a run's ``train.log`` (`attach_log`)."""
    for name in ("seqkit", "lightning.pytorch"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "seqkit-run"]:
            logger.removeHandler(old)
            old.close()


def attach_log(path: Path) -> None:
    """Copy seqkit's and Lightning's log messages to `path` (replacing a previous run's file)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.set_name("seqkit-run")
    handler.addFilter(NoTips())
    detach_log()
    for name in ("seqkit", "lightning.pytorch"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented JSON, refusing to replace an existing file (the main process only)."""
    if not is_main_process():
        return
    if path.exists():
        raise SeqkitError(f"{path} already exists; not overwriting it")
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
