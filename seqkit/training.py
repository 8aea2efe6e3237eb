"""The Lightning trainer every recipe uses: checkpoints, early stopping, logs, progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")

# Keys of a config's ``trainer`` section that are seqkit's, not Lightning Trainer arguments.
OWN_KEYS = ("patience", "monitor")


class EpochLog(Callback):
    """Write one line per epoch to the run's log: losses, learning rate and wall time."""

    def __init__(self):
        self.history: list[dict] = []

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()
        self.lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")

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


def history(trainer: L.Trainer) -> list[dict]:
    """Per-epoch records (losses, learning rate, wall seconds of training + validation)."""
    return next((c.history for c in trainer.callbacks if isinstance(c, EpochLog)), [])


def make_trainer(settings: Mapping, run_dir: Path | None = None, callbacks: list | None = None) -> L.Trainer:
    """A Lightning Trainer from a config's ``trainer`` section, writing into `run_dir`.

    ``patience`` (0 to disable) sets early stopping on ``monitor`` (``val/loss``); the best and
    the last checkpoints go to ``run_dir/checkpoints/{best,last}.ckpt``, the per-step metrics to
    ``run_dir/logs/metrics.csv``. Every other key is passed to ``lightning.Trainer`` as is.
    """
    settings = dict(settings)
    patience = settings.pop("patience", 0)
    monitor = settings.pop("monitor", "val/loss")
    callbacks = list(callbacks or []) + [EpochLog()]
    if settings.get("enable_progress_bar", True):
        callbacks.append(TQDMProgressBar(refresh_rate=5))
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor, patience=patience, mode="min"))
    if run_dir is not None:
        callbacks.append(ModelCheckpoint(
            dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode="min",
            save_last=True, save_top_k=1, auto_insert_metric_name=False,
        ))
    try:
        return L.Trainer(
            default_root_dir=run_dir, callbacks=callbacks,
            logger=CSVLogger(run_dir, name="logs", version="") if run_dir is not None else False,
            enable_checkpointing=run_dir is not None, **settings,
        )
    except (TypeError, ValueError) as err:
        raise SeqkitError(f"trainer settings: {' '.join(str(err).split())}") from None
