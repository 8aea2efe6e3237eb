"""Run directories: one per run, never overwritten, with the resolved config, metrics and log."""

from __future__ import annotations

import json
import logging
import time
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


def create_run_dir(cfg: DictConfig, recipe: str) -> Path:
    """Create the run's directory and write the resolved ``config.yaml`` and ``train.log`` there.

    ``cfg.run_dir`` names it; if unset, ``runs/<recipe>/<date>-<time>`` (with a suffix if taken).
    """
    if cfg.get("run_dir"):
        path = check_free(cfg.run_dir)
        path.mkdir(parents=True, exist_ok=True)
    else:
        base = Path("runs") / recipe / time.strftime("%Y%m%d-%H%M%S")
        path, n = base, 1
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                path, n = base.with_name(f"{base.name}-{n}"), n + 1
    OmegaConf.save(cfg, path / "config.yaml", resolve=True)
    attach_log(path / "train.log")
    log.info("run directory: %s", path)
    return path


class _Quiet(logging.Filter):
    """Drop Lightning's advertising tips from the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def attach_log(path: Path) -> None:
    """Copy seqkit's and Lightning's log messages to `path` (replacing a previous run's file)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.set_name("seqkit-run")
    handler.addFilter(_Quiet())
    for name in ("seqkit", "lightning.pytorch"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "seqkit-run"]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented JSON, refusing to replace an existing file."""
    if path.exists():
        raise SeqkitError(f"{path} already exists; not overwriting it")
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
