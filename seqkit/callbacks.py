"""The callbacks of seqkit's trainer: progress on stderr, the per-epoch log, exact resumes (random
state, checkpoints every N steps, checkpoints that follow a moved run), the guard against a
non-finite loss, and the average of the last epochs' weights."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import time
from pathlib import Path, PureWindowsPath

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from torch.optim.swa_utils import AveragedModel

from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")


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


class AverageLast(Callback):
    """The mean of the weights (and buffers) at the end of each of the last `epochs` training
    epochs, written to `path` (the run's ``checkpoints/average.ckpt``) when training ends, as
    icefall's ``--avg`` and ESPnet's model averaging do; `torch.optim.swa_utils.AveragedModel`
    keeps the running mean. The trained model itself is left as it is.

    The mean is taken when an epoch's last batch ends, before that epoch's validation and its
    checkpoint, and travels in every checkpoint, so a resumed run averages the same epochs.
    """

    def __init__(self, path: Path, epochs: int):
        self.path, self.epochs = Path(path), epochs
        self.average: AveragedModel | None = None
        self.averaged: list[int] = []  # the epochs in the mean
        self.restored: dict | None = None

    def setup(self, trainer, module, stage):
        if stage == "fit":
            self.average = AveragedModel(module.model, use_buffers=True)

    def on_train_start(self, trainer, module):
        if self.restored is not None:
            self.average.load_state_dict(self.restored["average"])
            self.averaged = list(self.restored["averaged"])
            self.restored = None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        epoch = trainer.current_epoch
        if (batch_idx + 1 >= trainer.num_training_batches and epoch >= trainer.max_epochs - self.epochs
                and epoch not in self.averaged):
            self.average.update_parameters(module.model)
            self.averaged.append(epoch)

    def on_train_end(self, trainer, module):
        if not self.averaged:
            return
        trained = {k: v.clone() for k, v in module.model.state_dict().items()}
        module.model.load_state_dict(self.average.module.state_dict())
        try:
            trainer.save_checkpoint(self.path, weights_only=False)
        finally:
            module.model.load_state_dict(trained)
        log.info("averaged the weights of epochs %s into %s", ", ".join(str(e + 1) for e in self.averaged),
                 self.path)

    def state_dict(self):
        if self.average is None:
            return {}
        return {"average": self.average.state_dict(), "averaged": list(self.averaged)}

    def load_state_dict(self, state_dict):
        self.restored = state_dict if state_dict else None
