"""The Lightning trainer every recipe uses: checkpoints, early stopping, logs, progress bar."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import random
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, ModelSummary, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")

# Keys of a config's ``trainer`` section that are seqkit's, not Lightning Trainer arguments.
OWN_KEYS = ("patience", "monitor", "checkpoint_every_n_steps")


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bars, drawn on stderr: stdout carries only a command's results, so that
    ``seqkit adapt ... > result.txt`` and friends stay clean."""

    def init_sanity_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):  # Lightning's bars write to sys.stdout
            return super().init_sanity_tqdm()

    def init_train_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def init_test_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_test_tqdm()

    def init_predict_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()


class EpochLog(Callback):
    """Write one line per epoch to the run's log: losses, learning rate and wall time."""

    def __init__(self):
        self.history: list[dict] = []

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()
        self.lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")

    def on_train_start(self, trainer, module):  # resumed in the middle of an epoch: no epoch start
        if not hasattr(self, "start"):
            lr = getattr(self, "lr", None)
            self.on_train_epoch_start(trainer, module)
            self.lr = self.lr if lr is None else lr

    def state_dict(self) -> dict:  # the epochs before a resume stay in the history
        return {"history": self.history, "lr": getattr(self, "lr", None)}

    def load_state_dict(self, state: dict) -> None:
        # Lightning also restores callbacks for trainer.test(ckpt_path="best") after a fit: the
        # history of this process (every epoch) must not shrink to the best checkpoint's.
        if self.history:
            return
        self.history = list(state.get("history", []))
        if state.get("lr") is not None:
            self.lr = state["lr"]

    def on_train_epoch_end(self, trainer, module):  # after the epoch's validation, if any
        if not hasattr(self, "start"):
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k}
        lr = self.lr  # the rate this epoch trained with (the schedule may already have stepped)
        text = " ".join(f"{k}={v:.5f}" for k, v in sorted(metrics.items()) if not k.startswith("test"))
        seconds = time.perf_counter() - self.start
        self.history.append({"epoch": trainer.current_epoch + 1, "lr": lr, "seconds": round(seconds, 3),
                             **{k: v for k, v in metrics.items() if not k.startswith("test")}})
        log.info("epoch %d: %s lr=%.3g time=%.1fs", trainer.current_epoch + 1, text, lr, seconds)


class RandomState(Callback):
    """Save the random generators' states (torch, numpy, random) in every checkpoint and put them
    back before the first training step after a resume, so that dropout and augmentation draw
    the same numbers as in an uninterrupted run. Plain data and tensors only (weights_only)."""

    def __init__(self):
        self.pending: dict | None = None

    def state_dict(self) -> dict:
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        version, words, gauss_next = random.getstate()
        state = {"torch": torch.get_rng_state(),
                 "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                           "has_gauss": int(has_gauss), "gauss": float(gauss)},
                 "python": {"version": version, "words": list(words), "gauss_next": gauss_next}}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.pending = state

    def on_train_start(self, trainer, module):
        if not self.pending:
            return
        state, self.pending = self.pending, None
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["gauss"]))
        p = state["python"]
        random.setstate((p["version"], tuple(p["words"]), p["gauss_next"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class FiniteGuard(Callback):
    """Stop training when the weights stop being finite numbers, before a checkpoint saves them.

    The Task already stops on a NaN or infinite loss (before its gradients are applied); this
    catches an update that made the weights non-finite from a finite loss. Checkpoint callbacks
    run after every other callback, so the last good checkpoint on disk is kept.
    """

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise SeqkitError(f"the weights became NaN or infinite at training step {trainer.global_step} "
                              f"(epoch {trainer.current_epoch + 1}, batch {batch_idx + 1}); training stopped and "
                              f"the last good checkpoint is kept; lower train.lr or set trainer.gradient_clip_val")


class StepCheckpoint(Callback):
    """Save `path` (the run's last.ckpt) every `every` training steps, so a long epoch loses little.

    Steps after which a validation follows are left to the checkpoint written after it: Lightning
    resumes a checkpoint taken just before a validation without running that validation. With
    ``trainer.accumulate_grad_batches`` > 1 only a batch that completed an optimizer step saves:
    the gradients summed so far in a step are not in a checkpoint.
    """

    def __init__(self, path: Path, every: int):
        self.path, self.every = Path(path), every
        self.step_before = -1

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.step_before = trainer.global_step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        stepped = trainer.global_step != self.step_before
        if not stepped or trainer.global_step % self.every or trainer.sanity_checking:
            return
        validates = trainer.enable_validation and (
            batch_idx + 1 >= trainer.num_training_batches
            or (isinstance(trainer.val_check_batch, int) and (batch_idx + 1) % trainer.val_check_batch == 0))
        if not validates:
            trainer.save_checkpoint(self.path, weights_only=False)  # all of it: a resume needs the optimizer too


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, whose saved paths follow the run's folder.

    Its state in every checkpoint holds absolute paths (``dirpath``, the best, the last and the k
    best checkpoints). A run resumed where its folder now lives (moved, copied, on another machine
    or mount) maps each one into its own ``dirpath`` by file name, so it keeps comparing with, and
    tests, its own checkpoints, never those of the folder it was copied from. Its state key is
    ModelCheckpoint's, so that checkpoints written before keep their state.

    Example:
        >>> old, score = "/runs/base/checkpoints", torch.tensor(0.5)
        >>> callback = RunCheckpoint(dirpath="/runs/moved/checkpoints", filename="best", monitor="val/loss")
        >>> callback.load_state_dict({"dirpath": old, "best_model_score": score, "best_model_path": f"{old}/best.ckpt",
        ...     "last_model_path": f"{old}/last.ckpt", "best_k_models": {f"{old}/best.ckpt": score},
        ...     "kth_best_model_path": f"{old}/best.ckpt", "kth_value": score})
        >>> callback.best_model_path, list(callback.best_k_models), float(callback.best_model_score)
        ('/runs/moved/checkpoints/best.ckpt', ['/runs/moved/checkpoints/best.ckpt'], 0.5)
    """

    @property
    def state_key(self) -> str:
        return "ModelCheckpoint" + super().state_key.removeprefix(type(self).__qualname__)

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("dirpath")
        if saved is not None and self.dirpath is not None and saved != self.dirpath:
            state_dict = self._here(state_dict)
        super().load_state_dict(state_dict)

    def _here(self, state: dict) -> dict:
        """`state` with every checkpoint path in it put into this callback's own folder, by file name."""
        def here(path: str) -> str:  # PureWindowsPath splits at / and \ alike: a path saved on any system
            return os.path.join(self.dirpath, PureWindowsPath(path).name) if path else path

        moved = {**state, "dirpath": self.dirpath}
        for key in ("best_model_path", "last_model_path", "kth_best_model_path"):
            if key in state:
                moved[key] = here(state[key])
        if "best_k_models" in state:
            moved["best_k_models"] = {here(path): score for path, score in state["best_k_models"].items()}
        return moved


def run_test(trainer: L.Trainer, task: L.LightningModule, **where) -> dict[str, float]:
    """``trainer.test(task, **where)`` (a ``datamodule=`` or ``dataloaders=``, a ``ckpt_path=``) and
    its metrics as plain numbers, without Lightning's ``test/`` prefix: ``{"mse": ..., "mae": ...}``."""
    scores = trainer.test(task, verbose=False, **where)[0]
    return {k.removeprefix("test/"): float(v) for k, v in scores.items()}


def history(trainer: L.Trainer) -> list[dict]:
    """Per-epoch records (losses, learning rate, wall seconds of training + validation)."""
    return next((c.history for c in trainer.callbacks if isinstance(c, EpochLog)), [])


def make_trainer(settings: Mapping, run_dir: Path | None = None, callbacks: list | None = None) -> L.Trainer:
    """A Lightning Trainer from a config's ``trainer`` section, writing into `run_dir`.

    ``patience`` (0 to disable) sets early stopping on ``monitor`` (``val/loss``); the best
    checkpoint goes to ``run_dir/checkpoints/best.ckpt`` after each validation, the last one to
    ``last.ckpt`` after each validation and every ``checkpoint_every_n_steps`` training steps
    (0: only after validation); the per-step metrics to ``run_dir/logs/metrics.csv``.
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
    every = settings.pop("checkpoint_every_n_steps", 0) or 0
    if not isinstance(every, int) or every < 0:
        raise SeqkitError(f"trainer.checkpoint_every_n_steps must be a whole number >= 0 (0: per validation "
                          f"only), got {every!r}")
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
