"""Task: the one LightningModule; the head supplies the loss and the metrics."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import nn
from torchmetrics import Metric

from seqkit.errors import SeqkitError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def epoch_factor(schedule: str, epoch: int, max_epochs: int = 1) -> float:
    """The learning-rate multiplier for 0-based `epoch` under `schedule`.

    ``type3`` is the SegRNN reference code's: the base rate for epochs 1-4, then x0.8 per epoch
    (epoch e >= 5 uses lr * 0.8^(e-4)). ``constant`` keeps it; ``cosine`` decays to 0 over
    `max_epochs` (the Task steps it per batch instead, see `CosineSchedule`).

    Example:
        >>> [round(epoch_factor("type3", e), 4) for e in range(7)]
        [1.0, 1.0, 1.0, 1.0, 0.8, 0.64, 0.512]
    """
    if schedule == "type3":
        return 1.0 if epoch < 4 else 0.8 ** (epoch - 3)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + torch.cos(torch.tensor(torch.pi * epoch / max(1, max_epochs))).item())
    raise SeqkitError(f"train.schedule must be type3, constant or cosine, got {schedule!r}")


class CosineSchedule:
    """A per-step multiplier for LambdaLR that decays from 1 to 0 along a cosine over the run.

    The run's progress is the larger of the steps done out of `total_steps` and the seconds
    since the first step out of `seconds` (``trainer.max_time``), so that a wall-clock budget
    also ends with a low learning rate. With `warmup` steps, the multiplier first rises linearly
    from 1/warmup to 1 over them. Holds plain numbers only (it is saved in checkpoints).

    Example:
        >>> schedule = CosineSchedule(100, warmup=10)
        >>> [round(schedule(step), 3) for step in (0, 4, 9, 50, 100)]
        [0.1, 0.498, 0.98, 0.5, 0.0]
    """

    def __init__(self, total_steps: float, seconds: float | None = None, warmup: int = 0):
        self.total_steps, self.seconds, self.start, self.warmup = total_steps, seconds, None, warmup

    def resume(self, elapsed: float) -> None:
        """Count `elapsed` seconds of training as done (the Timer's, restored from a checkpoint):
        the clock of the process that saved this schedule means nothing in another one.

        Example:
            >>> schedule = CosineSchedule(float("inf"), seconds=100.0)
            >>> schedule.resume(50.0)
            >>> round(schedule(0), 2)
            0.5
        """
        self.start = time.monotonic() - elapsed

    def __call__(self, step: int) -> float:
        ramp = min(1.0, (step + 1) / self.warmup) if getattr(self, "warmup", 0) else 1.0  # (older checkpoints: none)
        return ramp * self.cosine(step)

    def cosine(self, step: int) -> float:
        if self.start is None:
            self.start = time.monotonic()
        progress = step / self.total_steps if math.isfinite(self.total_steps) and self.total_steps > 0 else 0.0
        if self.seconds:
            progress = max(progress, (time.monotonic() - self.start) / self.seconds)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class EpochSchedule:
    """A picklable per-epoch multiplier for LambdaLR."""

    def __init__(self, schedule: str, max_epochs: int):
        self.schedule, self.max_epochs = schedule, max_epochs

    def __call__(self, epoch: int) -> float:
        return epoch_factor(self.schedule, epoch, self.max_epochs)


def max_time_timer(trainer) -> Timer | None:
    """The trainer's Timer callback (set by trainer.max_time), or None without one or a trainer."""
    return next((c for c in trainer.callbacks if isinstance(c, Timer)), None) if trainer else None


class Task(L.LightningModule):
    """Train, validate and test a SeqModel; its head owns the loss, the metrics and the decoding.

    Args:
        model: the SeqModel.
        optimizer: ``adam``, ``adamw`` or ``sgd``.
        lr: base learning rate.
        weight_decay: weight decay.
        schedule: learning-rate schedule per epoch (see `epoch_factor`).
        warmup_steps: with the ``cosine`` schedule, raise the rate linearly over these first steps.
        info: plain data saved in every checkpoint under ``"seqkit"`` (config, sizes, scaler ...);
            ``info["scaler"]`` also adds original-scale test metrics.
    """

    def __init__(self, model: nn.Module, optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, schedule: str = "constant", warmup_steps: int = 0,
                 info: dict | None = None):
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise SeqkitError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        epoch_factor(schedule, 0)  # fail early on an unknown schedule
        if warmup_steps and (schedule != "cosine" or warmup_steps < 0):
            raise SeqkitError(f"train.warmup_steps ({warmup_steps}) must be 0 or more, and needs "
                              f"train.schedule: cosine")
        self.warmup_steps = warmup_steps
        self.model, self.info = model, dict(info or {})
        self.optimizer, self.lr, self.weight_decay, self.schedule = optimizer, lr, weight_decay, schedule
        self.test_metrics = model.head.metrics(**self.info)
        for metric in self.test_metrics.modules():  # each process tests the whole split (seqkit.data.resume)
            if isinstance(metric, Metric):
                metric.sync_on_compute = False

    # A stateful back-end (a language model reading streams) starts every pass over the data
    # afresh; validation in the middle of an epoch does not disturb the training streams' state.
    def on_train_epoch_start(self):
        self.model.reset_state()

    def on_validation_epoch_start(self):
        self._training_state = self.model.carried_state
        self.model.reset_state()

    def on_validation_epoch_end(self):
        self.model.reset_state(getattr(self, "_training_state", None))

    def on_test_epoch_start(self):
        self.model.reset_state()

    def forward(self, batch: dict):
        """Predictions and their lengths for a batch."""
        return self.model(batch["inputs"], batch.get("input_lengths"))

    def training_step(self, batch: dict, batch_idx: int):
        loss = self.model.head.loss(*self(batch), batch)
        finite = torch.isfinite(loss.detach()).all()
        if self.trainer.world_size > 1:  # every process stops, or none does
            finite = self.trainer.strategy.reduce_boolean_decision(bool(finite), all=True)
        if not finite:
            raise SeqkitError(f"the training loss is {float(loss.detach()):g} at step {self.global_step + 1} (epoch "
                              f"{self.current_epoch + 1}, batch {batch_idx + 1}); training stopped before applying "
                              f"it, the last good checkpoint is kept; lower train.lr or set trainer.gradient_clip_val")
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["inputs"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        loss = self.model.head.loss(*self(batch), batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["inputs"]), sync_dist=True)

    def test_step(self, batch: dict, batch_idx: int):
        self.model.head.update(self.test_metrics, *self(batch), batch)

    def on_test_epoch_end(self):
        values = self.test_metrics.compute()
        self.test_values = {k: v.detach().cpu() for k, v in values.items()}  # all of them: a confusion matrix too
        self.log_dict({f"test/{k}": v for k, v in values.items() if v.numel() == 1}, sync_dist=True)
        self.test_metrics.reset()

    def configure_optimizers(self):
        optimizer = OPTIMIZERS[self.optimizer](self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "cosine":  # step by step, over the run's steps or its max_time
            timer = max_time_timer(self.trainer)
            budget = timer.time_elapsed("train") + timer.time_remaining("train") if timer else None  # max_time, s
            total = self.trainer.estimated_stepping_batches if self.trainer else float("inf")
            factor = CosineSchedule(float(total), budget, self.warmup_steps)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
        max_epochs = self.trainer.max_epochs if self.trainer and self.trainer.max_epochs else 1
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, EpochSchedule(self.schedule, max_epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["seqkit"] = self.info
        if self.model.carried_state is not None:  # a language model's state between TBPTT windows
            checkpoint["carried_state"] = self.model.carried_state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resumed_state = checkpoint.get("carried_state")

    def on_train_start(self):
        # A wall-clock budget's cosine counts the training time the Timer has (restored on resume).
        timer = max_time_timer(self.trainer)
        scheduler = self.lr_schedulers()
        for k, factor in enumerate(getattr(scheduler, "lr_lambdas", []) if timer else []):
            if isinstance(factor, CosineSchedule) and factor.seconds:
                factor.resume(timer.time_elapsed("train"))
                group = scheduler.optimizer.param_groups[k]  # from this step on, not from the next
                group["lr"] = scheduler.base_lrs[k] * factor(scheduler.last_epoch)
        # Resumed in the middle of an epoch: carry on with the saved state.
        state, self._resumed_state = getattr(self, "_resumed_state", None), None
        if state is not None:
            move = lambda s: tuple(t.to(self.device) for t in s) if isinstance(s, (tuple, list)) else s.to(self.device)  # noqa: E731
            self.model.reset_state([move(layer) for layer in state])
