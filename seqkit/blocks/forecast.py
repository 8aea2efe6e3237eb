"""The forecast head: back-end states to future values, with the front-end's normalisation undone."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection
from torchmetrics.wrappers import LambdaInputTransformer

from seqkit.blocks.norm import NORMS, window_stats
from seqkit.errors import SeqkitError

LOSSES = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss}


class Forecast(nn.Module):
    """Project back-end states to future values and undo the front-end's normalisation.

    After a decoding back-end (`segrnn`), each of its ``out_steps`` states becomes one segment of
    ``pred_len / out_steps`` values (Dropout + Linear). After a plain recurrent back-end, the last
    valid state becomes all ``pred_len`` values at once. Rows that hold single channels (the
    `segmenter`'s) are folded back to (B, pred_len, C).

    Args:
        in_dim: size of the back-end's states (derived).
        pred_len: steps to forecast (derived from the data).
        channels: channels of the series (derived from the data).
        out_steps: decoding steps of the back-end, 0 if it only encodes (derived).
        per_channel: the batch rows are single channels (derived from the front-end).
        norm: the front-end's normalisation to undo (derived from the front-end).
        dropout: dropout before the projection.
        loss: ``mse`` or ``mae``.

    Example:
        >>> head = Forecast(in_dim=32, pred_len=96, channels=7, out_steps=4, per_channel=True)
        >>> y, _ = head(torch.randn(14, 4, 32), torch.full((14,), 4), torch.randn(2, 720, 7), None)
        >>> tuple(y.shape)
        (2, 96, 7)
    """

    def __init__(
        self,
        in_dim: int,
        pred_len: int,
        channels: int = 1,
        out_steps: int = 0,
        per_channel: bool = False,
        norm: str = "none",
        dropout: float = 0.0,
        loss: str = "mse",
    ):
        super().__init__()
        if loss not in LOSSES:
            raise SeqkitError(f"forecast loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if norm not in NORMS:
            raise SeqkitError(f"forecast norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.pred_len, self.channels, self.out_steps = pred_len, channels, out_steps
        self.per_channel, self.norm, self.loss_name = per_channel, norm, loss
        width = pred_len // out_steps if out_steps else pred_len  # values per state
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, width if per_channel else width * channels)
        self.out_dim = channels

    def forward(self, x: Tensor, lengths: Tensor, inputs: Tensor, input_lengths: Tensor | None):
        if not self.out_steps:  # one state per row: the last valid one
            x = x[torch.arange(x.shape[0], device=x.device), (lengths - 1).clamp(min=0)].unsqueeze(1)
        y = self.project(self.dropout(x))  # (rows, steps, width)
        batch = inputs.shape[0]
        if self.per_channel:
            y = y.reshape(batch, self.channels, self.pred_len).transpose(1, 2)
            # (B*C, m, w) -> (B, C, H) -> (B, H, C)
        else:
            y = y.reshape(batch, -1, self.channels, y.shape[-1] // self.channels)
            y = y.transpose(2, 3).reshape(batch, self.pred_len, self.channels)
            # (B, m, C*w) -> (B, m, C, w) -> (B, m, w, C) -> (B, H, C)
        if input_lengths is None:
            input_lengths = torch.full((batch,), inputs.shape[1], device=inputs.device)
        shift, scale = window_stats(inputs, input_lengths, self.norm)
        y = y * scale + shift
        return y, torch.full((batch,), self.pred_len, device=y.device)

    def loss(self, predictions: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """The training loss of `predictions` against ``batch["targets"]`` (B, H, C)."""
        return LOSSES[self.loss_name](predictions, batch["targets"])

    def metrics(self, scaler: dict | None = None, **info) -> MetricCollection:
        """The test metrics: MSE and MAE on the scaled values the model sees and, given the data's
        ``scaler`` (per-channel ``mean`` and ``std`` lists), on the original scale too."""
        metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}
        if scaler:
            unscale = self.unscale(scaler)
            for name, metric in list(metrics.items()):
                metrics[name + "_original"] = LambdaInputTransformer(metric.clone(), unscale, unscale)
        return MetricCollection(metrics)

    @staticmethod
    def unscale(scaler: dict) -> Unscale:
        """The map from scaled values back to the original scale, from a data ``scaler``."""
        return Unscale(scaler["mean"], scaler["std"])

    def update(self, metrics: MetricCollection, predictions: Tensor, lengths: Tensor, batch: dict) -> None:
        metrics.update(predictions.contiguous(), batch["targets"].contiguous())


class Unscale:
    """Map standardised values (..., C) back to the original scale: ``x * std + mean``."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def __call__(self, x: Tensor) -> Tensor:
        return x * self.std.to(x.device, x.dtype) + self.mean.to(x.device, x.dtype)
