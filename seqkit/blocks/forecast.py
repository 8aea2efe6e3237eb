"""The forecast head: back-end states to future values, with the front-end's normalisation undone."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection
from torchmetrics.wrappers import LambdaInputTransformer

from seqkit.blocks.norm import NORMS, window_stats
from seqkit.blocks.quantile import Coverage, Pinball, Width, central_intervals, check_quantiles, pinball_loss
from seqkit.errors import SeqkitError

LOSSES = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss}  # point losses (predictions, targets)
LOSS_NAMES = (*LOSSES, "quantile")  # the quantile loss also needs the head's levels: Forecast.loss


class Forecast(nn.Module):
    """Project back-end states to future values and undo the front-end's normalisation.

    After a decoding back-end (`segrnn`), each of its ``out_steps`` states becomes one segment of
    ``pred_len / out_steps`` values (Dropout + Linear). After a plain recurrent back-end, the last
    valid state becomes all ``pred_len`` values at once. Rows that hold single channels (the
    `segmenter`'s) are folded back to (B, pred_len, C).

    With ``target_channel`` the head forecasts every channel, then keeps that one: (B, pred_len, 1).
    With ``loss: quantile`` each value is Q values, one per level of ``quantiles``:
    (B, pred_len, C, Q), sorted along Q (a monotone rearrangement, in training and inference alike,
    so the quantiles never cross); `point` is the median, `original` puts either shape back on the
    data's scale.

    Args:
        in_dim: size of the back-end's states (derived).
        pred_len: steps to forecast (derived from the data).
        channels: channels of the series (derived from the data).
        out_steps: decoding steps of the back-end, 0 if it only encodes (derived).
        per_channel: the batch rows are single channels (derived from the front-end).
        norm: the front-end's normalisation to undo (derived from the front-end).
        target_channel: the one channel to forecast, all of them if None (derived from the data:
            features MS).
        dropout: dropout before the projection.
        loss: ``mse``, ``mae`` or ``quantile`` (the pinball loss of the ``quantiles``).
        quantiles: the levels a ``quantile`` head forecasts, each strictly between 0 and 1, with
            0.5 (the point forecast) among them; pairs (q, 1 - q) give the test metric
            ``coverage_<percent>`` of the central interval.

    Example:
        >>> head = Forecast(in_dim=32, pred_len=96, channels=7, out_steps=4, per_channel=True)
        >>> y, _ = head(torch.randn(14, 4, 32), torch.full((14,), 4), torch.randn(2, 720, 7), None)
        >>> tuple(y.shape)
        (2, 96, 7)
        >>> head = Forecast(32, pred_len=96, channels=7, target_channel=6, loss="quantile")
        >>> y, _ = head(torch.randn(2, 720, 32), torch.full((2,), 720), torch.randn(2, 720, 7), None)
        >>> tuple(y.shape), tuple(head.point(y).shape), bool((y.diff(dim=-1) >= 0).all())
        ((2, 96, 1, 3), (2, 96, 1), True)
    """

    def __init__(
        self,
        in_dim: int,
        pred_len: int,
        channels: int = 1,
        out_steps: int = 0,
        per_channel: bool = False,
        norm: str = "none",
        target_channel: int | None = None,
        dropout: float = 0.0,
        loss: str = "mse",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    ):
        super().__init__()
        if loss not in LOSS_NAMES:
            raise SeqkitError(f"model.head.loss must be one of {', '.join(LOSS_NAMES)}, got {loss!r}")
        if norm not in NORMS:
            raise SeqkitError(f"forecast norm must be one of {', '.join(NORMS)}, got {norm!r}")
        j = target_channel
        if j is not None and not (isinstance(j, numbers.Integral) and not isinstance(j, bool) and 0 <= j < channels):
            raise SeqkitError(f"forecast target_channel {target_channel!r} is not one of the series' {channels} "
                              f"channels (0 to {channels - 1}): set data.target to a column the data has")
        self.pred_len, self.channels, self.out_steps = pred_len, channels, out_steps
        self.per_channel, self.norm, self.loss_name = per_channel, norm, loss
        self.target_channel = None if target_channel is None else int(target_channel)
        self.quantiles: list[float] = check_quantiles(quantiles) if loss == "quantile" else []
        self._median = self.quantiles.index(0.5) if self.quantiles else None
        self.outputs = 1 if target_channel is not None else channels  # output channels
        width = pred_len // out_steps if out_steps else pred_len  # values per state
        values = width * (len(self.quantiles) or 1)  # per state and channel
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, values if per_channel else values * channels)
        self.out_dim = self.outputs

    def forward(self, x: Tensor, lengths: Tensor, inputs: Tensor, input_lengths: Tensor | None):
        if not self.out_steps:  # one state per row: the last valid one
            x = x[torch.arange(x.shape[0], device=x.device), (lengths - 1).clamp(min=0)].unsqueeze(1)
        y = self.project(self.dropout(x))  # (rows, steps, width * Q), Q = 1 without quantiles
        batch, q = inputs.shape[0], len(self.quantiles) or 1
        if self.per_channel:
            y = y.reshape(batch, self.channels, self.pred_len, q).transpose(1, 2)
            # (B*C, m, w*Q) -> (B, C, H, Q) -> (B, H, C, Q)
        else:
            y = y.reshape(batch, -1, self.channels, y.shape[-1] // (self.channels * q), q)
            y = y.transpose(2, 3).reshape(batch, self.pred_len, self.channels, q)
            # (B, m, C*w*Q) -> (B, m, C, w, Q) -> (B, m, w, C, Q) -> (B, H, C, Q)
        if input_lengths is None:
            input_lengths = torch.full((batch,), inputs.shape[1], device=inputs.device)
        shift, scale = window_stats(inputs, input_lengths, self.norm)  # (B, 1, C) each, scale > 0
        y = y * scale.unsqueeze(-1) + shift.unsqueeze(-1)
        if self.target_channel is not None:
            y = y[:, :, self.target_channel: self.target_channel + 1]  # (B, H, 1, Q)
        y = y.sort(dim=-1).values if self.quantiles else y.squeeze(-1)  # sorting commutes with scale > 0
        return y, torch.full((batch,), self.pred_len, device=y.device)

    def point(self, y: Tensor) -> Tensor:
        """The point forecast (B, H, C_out) of a forward output `y`: a quantile head's median slice,
        else `y` itself."""
        return y if self._median is None else y[..., self._median]

    def loss(self, predictions: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """The training loss of `predictions` against ``batch["targets"]`` (B, H, C_out): the mean
        pinball loss over values and levels for a quantile head, else ``mse`` or ``mae``."""
        if self.quantiles:
            return pinball_loss(predictions, batch["targets"], self.quantiles)
        return LOSSES[self.loss_name](predictions, batch["targets"])

    def metrics(self, scaler: dict | None = None, **info) -> MetricCollection:
        """The test metrics: MSE and MAE of the point forecast on the scaled values the model sees
        and, given the data's ``scaler`` (per-channel ``mean`` and ``std`` lists of every input
        column), ``_original`` on the original scale too. A quantile head adds ``pinball`` (and
        ``pinball_original``), and for each central interval (q, 1 - q) ``coverage_<percent>``
        (percent = round(100 (1 - 2q)), the same on either scale) and ``width_<percent>_original``,
        its mean width on the original scale."""
        metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}
        if self.quantiles:
            metrics = {name: LambdaInputTransformer(metric, Point(self._median)) for name, metric in metrics.items()}
            metrics["pinball"] = Pinball(self.quantiles)
        intervals = central_intervals(self.quantiles)
        if scaler:
            targets = self.unscale(self.output_scaler(scaler))
            predictions = Unscale(targets.mean, targets.std, dim=-2) if self.quantiles else targets
            for name, metric in list(metrics.items()):
                metrics[name + "_original"] = LambdaInputTransformer(metric.clone(), predictions, targets)
            for percent, (lower, upper) in intervals.items():
                metrics[f"width_{percent}_original"] = LambdaInputTransformer(Width(lower, upper), predictions)
        for percent, (lower, upper) in intervals.items():
            metrics[f"coverage_{percent}"] = Coverage(lower, upper)
        # No compute groups: they would merge metrics whose states happen to match after the first
        # batch (two coverages with equal counts), and update only one of them from then on.
        return MetricCollection(metrics, compute_groups=False)

    @staticmethod
    def unscale(scaler: dict) -> Unscale:
        """The map from scaled values (..., C) back to the original scale, from a data ``scaler``."""
        return Unscale(scaler["mean"], scaler["std"])

    def output_scaler(self, scaler: dict) -> dict:
        """The data ``scaler`` of the output channels: with ``target_channel`` j, a scaler of every
        input column reduced to column j's ``mean`` and ``std``; else `scaler` itself."""
        j = self.target_channel
        if j is None or len(scaler["mean"]) != self.channels:  # already the outputs' own
            return scaler
        return {**scaler, "mean": [scaler["mean"][j]], "std": [scaler["std"][j]]}

    def original(self, y: Tensor, scaler: dict) -> Tensor:
        """`y` on the original scale of the data, given its ``scaler`` (e.g. ``info["scaler"]``).

        Args:
            y: a forward output (B, H, C_out, Q) of a quantile head, or any (..., C_out) of output
                channels: a point forecast, the targets.
            scaler: per-channel ``mean`` and ``std`` lists of every input column (or of the outputs);
                with ``target_channel`` the target's are used.
        """
        scaler = self.output_scaler(scaler)
        quantile = bool(self.quantiles) and y.dim() == 4
        return Unscale(scaler["mean"], scaler["std"], dim=-2 if quantile else -1)(y)

    def update(self, metrics: MetricCollection, predictions: Tensor, lengths: Tensor, batch: dict) -> None:
        metrics.update(predictions.contiguous(), batch["targets"].contiguous())


class Unscale:
    """Map standardised values back to the original scale: ``x * std + mean``, channel by channel.

    Args:
        mean: each channel's mean.
        std: each channel's standard deviation.
        dim: the channel dim: -1 for (..., C), -2 for quantile forecasts (..., C, Q).
    """

    def __init__(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor, dim: int = -1):
        self.mean, self.std, self.dim = torch.as_tensor(mean), torch.as_tensor(std), dim

    def __call__(self, x: Tensor) -> Tensor:
        shape = (-1,) + (1,) * (-1 - self.dim)
        std, mean = self.std.to(x.device, x.dtype).view(shape), self.mean.to(x.device, x.dtype).view(shape)
        return x * std + mean


class Point:
    """The point forecast of quantile forecasts (..., Q): the slice at the median's position, contiguous."""

    def __init__(self, index: int):
        self.index = index

    def __call__(self, y: Tensor) -> Tensor:
        return y[..., self.index].contiguous()
