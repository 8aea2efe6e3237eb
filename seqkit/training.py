"""The Lightning trainer every recipe uses: checkpoints, early stopping, logs, progress bar."""

from __future__ import annotations

import csv
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelSummary
from lightning.pytorch.loggers import CSVLogger

from seqkit.callbacks import AverageLast, EpochLog, FiniteGuard, ProgressBar, RandomState, RunCheckpoint, StepCheckpoint
from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")

# Keys of a config's ``trainer`` section that are seqkit's, not Lightning Trainer arguments.
OWN_KEYS = ("patience", "monitor", "checkpoint_every_n_steps", "average_last")


def run_test(trainer: L.Trainer, task: L.LightningModule, **where) -> dict[str, float]:
    """``trainer.test(task, **where)`` (a ``datamodule=`` or ``dataloaders=``, a ``ckpt_path=``) and
    its metrics as plain numbers, without Lightning's ``test/`` prefix: ``{"mse": ..., "mae": ...}``."""
    scores = trainer.test(task, verbose=False, **where)[0]
    return {k.removeprefix("test/"): float(v) for k, v in scores.items()}


def history(trainer: L.Trainer) -> list[dict]:
    """Per-epoch records (losses, learning rate, wall seconds of training + validation)."""
    return next((c.history for c in trainer.callbacks if isinstance(c, EpochLog)), [])


def count_setting(settings: dict, key: str, meaning: str) -> int:
    """Pop seqkit's whole-number trainer setting `key` (None or absent: 0); refuse anything else."""
    value = settings.pop(key, 0) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SeqkitError(f"trainer.{key} must be a whole number >= 0 ({meaning}), got {value!r}")
    return value


def make_trainer(settings: Mapping, run_dir: Path | None = None, callbacks: list | None = None) -> L.Trainer:
    """A Lightning Trainer from a config's ``trainer`` section, writing into `run_dir`.

    ``patience`` (0 to disable) sets early stopping on ``monitor`` (``val/loss``); the best
    checkpoint goes to ``run_dir/checkpoints/best.ckpt`` after each validation, the last one to
    ``last.ckpt`` after each validation and every ``checkpoint_every_n_steps`` training steps
    (0: only after validation); the per-step metrics to ``run_dir/logs/metrics.csv``. With
    ``average_last`` N > 0, the mean of the weights of the last N epochs goes to ``average.ckpt``
    when training ends (`AverageLast`).
    Checkpoints are written atomically and read with ``weights_only=True`` (`SafeCheckpointIO`).
    When `run_dir` is the run being resumed (``seqkit run ... --resume RUN_DIR``), ``fit``
    continues from its ``last.ckpt``, with the best checkpoint that of `run_dir` wherever the run
    was moved or copied to (`RunCheckpoint`). Every other key is passed to ``lightning.Trainer`` as is.
    """
    from seqkit.checkpoint import SafeCheckpointIO
    from seqkit.runs import quiet_console, resuming

    quiet_console()
    settings = dict(settings)
    patience = settings.pop("patience", 0)
    monitor = settings.pop("monitor", "val/loss")
    every = count_setting(settings, "checkpoint_every_n_steps", "0: per validation only")
    average = count_setting(settings, "average_last", "epochs whose weights are averaged; 0: off")
    # seqkit's training loaders give each process its share of every batch (seqkit.data.resume), so
    # Lightning must not add its own distributed sampler; validation and testing run whole on each.
    settings.setdefault("use_distributed_sampler", False)
    settings.setdefault("plugins", [SafeCheckpointIO()])
    callbacks = list(callbacks or []) + [EpochLog(), RandomState(), FiniteGuard()]
    if settings.get("enable_progress_bar", True):
        callbacks.append(ProgressBar(refresh_rate=5))
    if settings.get("enable_model_summary", True):  # the plain one logs to stderr, Lightning's rich one to stdout
        callbacks.append(ModelSummary(max_depth=1))
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor, patience=patience, mode="min"))
    resume = None
    if run_dir is not None:
        folder = Path(run_dir) / "checkpoints"
        callbacks.append(RunCheckpoint(
            dirpath=folder, filename="best", monitor=monitor, mode="min",
            save_last=True, save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False,
        ))
        if average:  # before StepCheckpoint: an epoch's last step is in the mean before any save
            callbacks.append(AverageLast(folder / "average.ckpt", average))
        if every:
            callbacks.append(StepCheckpoint(folder / "last.ckpt", every))
        if resuming() is not None and Path(resuming()).resolve() == Path(run_dir).resolve():
            resume = folder / "last.ckpt" if (folder / "last.ckpt").is_file() else None
    if "logger" not in settings:
        settings["logger"] = _logger(run_dir, resume) if run_dir is not None else False
    try:
        trainer = L.Trainer(default_root_dir=run_dir, callbacks=callbacks,
                            enable_checkpointing=run_dir is not None, **settings)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise SeqkitError(f"trainer settings: {' '.join(str(err).split())} (fix that trainer.* value in the "
                          f"recipe's config.yaml or on the command line)") from None
    if resume is not None:
        from seqkit.checkpoint import load_file

        load_file(resume)  # a truncated or unsafe file fails here, with its name, before any work
        log.info("resuming from %s", resume)
        trainer.ckpt_path = str(resume)  # fit() continues from it; test(ckpt_path="best") as before
        trainer.callbacks.append(_ForgetResume())
    return trainer


class _ForgetResume(Callback):
    """After fit, later ``trainer.test()`` calls use the weights they are given, as without a resume."""

    def on_fit_end(self, trainer, module):
        trainer.ckpt_path = None


def _logger(run_dir: Path, resume: Path | None) -> CSVLogger:
    """The CSV logger of ``run_dir/logs``; on resume, it keeps the rows logged before the checkpoint."""
    if resume is None:
        return CSVLogger(run_dir, name="logs", version="")
    return _ResumedCSVLogger(run_dir, name="logs", version="", resume=resume)


class _ResumedCSVLogger(CSVLogger):
    """A CSVLogger that keeps ``metrics.csv``'s rows up to the resumed checkpoint's step.

    Lightning's writer deletes an existing ``metrics.csv``; this one moves it aside first
    (``metrics.csv.resume``, kept until the rows are written back), so no logged row is lost.
    """

    def __init__(self, *args, resume: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_step = int(_checkpoint_step(resume))

    @property
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        folder = Path(self.log_dir)
        current, aside = folder / "metrics.csv", folder / "metrics.csv.resume"
        if current.is_file() and not aside.is_file():
            os.replace(current, aside)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            writer = super().experiment
        if aside.is_file():
            with open(aside, newline="", encoding="utf-8") as file:
                rows = [row for row in csv.DictReader(file) if int(row.get("step") or 0) < self._resume_step]
            writer.metrics = rows + writer.metrics
            writer.save()
            aside.unlink()
        return writer


def _checkpoint_step(path: Path) -> int:
    from seqkit.checkpoint import load_file

    return int(load_file(path).get("global_step", 0))
