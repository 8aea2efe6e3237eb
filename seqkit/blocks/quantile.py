"""Quantile forecasts: the pinball loss, the check on a list of quantiles, and their test metrics.

A quantile forecast holds Q values per forecast value, on the last dim, in the order of the
sorted quantile levels: predictions (..., Q) against targets (...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from seqkit.errors import SeqkitError

WHERE = "model.head.quantiles"


def check_quantiles(quantiles, where: str = WHERE) -> list[float]:
    """The quantile levels, checked and sorted: each strictly between 0 and 1, none twice, 0.5 among
    them (the point forecast is the median).

    Args:
        quantiles: the levels a config gives.
        where: the setting, for messages.

    Example:
        >>> check_quantiles([0.9, 0.5, 0.1])
        [0.1, 0.5, 0.9]
        >>> check_quantiles([0.1, 0.5, 0.1])
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: model.head.quantiles lists 0.1 more than once; list each level once
    """
    if isinstance(quantiles, (str, bytes)) or not isinstance(quantiles, Sequence) or not all(
            isinstance(q, (int, float)) and not isinstance(q, bool) for q in quantiles):
        raise SeqkitError(f"{where} must be a list of numbers between 0 and 1 with 0.5 among them, e.g. "
                          f"[0.1, 0.5, 0.9], got {quantiles!r}")
    levels = [float(q) for q in quantiles]
    outside = [q for q in levels if not 0.0 < q < 1.0]  # NaN fails this too
    if outside:
        raise SeqkitError(f"{where} must each be strictly between 0 and 1, got {outside[0]:g}: "
                          f"e.g. 0.05 or 0.95 for the ends of a 90% interval")
    repeated = sorted({q for q in levels if levels.count(q) > 1})
    if repeated:
        raise SeqkitError(f"{where} lists {repeated[0]:g} more than once; list each level once")
    if 0.5 not in levels:
        raise SeqkitError(f"{where} must include 0.5 (the median is the point forecast), got {list(quantiles)!r}")
    return sorted(levels)


def central_intervals(quantiles: Sequence[float]) -> dict[int, tuple[int, int]]:
    """The central intervals a sorted list of levels holds: ``{percent: (lower, upper)}``, positions
    along the quantile dim of each pair ``(q, 1 - q)`` with ``q < 0.5``; percent = round(100 (1 - 2q)).

    Example:
        >>> central_intervals([0.05, 0.1, 0.5, 0.9, 0.95])
        {90: (0, 4), 80: (1, 3)}
    """
    intervals: dict[int, tuple[int, int]] = {}
    for lower, q in enumerate(quantiles):
        upper = next((k for k, p in enumerate(quantiles) if math.isclose(p, 1 - q, abs_tol=1e-9)), None)
        if q < 0.5 and upper is not None:
            intervals.setdefault(round(100 * (1 - 2 * q)), (lower, upper))
    return intervals


def pinball(predictions: Tensor, targets: Tensor, quantiles: Sequence[float]) -> Tensor:
    """The pinball (quantile) loss of each value: ``max(q (t - y), (q - 1) (t - y))``, shape (..., Q).

    Args:
        predictions: (..., Q) forecasts, one per level.
        targets: (...) true values.
        quantiles: the Q levels, in the order of the last dim of `predictions`.
    """
    levels = torch.as_tensor(quantiles, dtype=predictions.dtype, device=predictions.device)
    error = targets.unsqueeze(-1) - predictions
    return torch.maximum(levels * error, (levels - 1) * error)


def pinball_loss(predictions: Tensor, targets: Tensor, quantiles: Sequence[float]) -> Tensor:
    """The mean pinball loss over all values and levels.

    Example:
        >>> pinball_loss(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([1.5]), [0.1, 0.5, 0.9])
        tensor(0.1500)
    """
    return pinball(predictions, targets, quantiles).mean()


class Pinball(Metric):
    """The mean pinball loss of quantile forecasts (..., Q) against targets (...), over all values and levels.

    Args:
        quantiles: the Q levels, in the order of the forecasts' last dim.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, quantiles: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        self.quantiles = [float(q) for q in quantiles]
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, targets: Tensor) -> None:
        losses = pinball(predictions.float(), targets.float(), self.quantiles)
        self.total += losses.sum()
        self.count += losses.numel()

    def compute(self) -> Tensor:
        return self.total / self.count


class Coverage(Metric):
    """The fraction of targets inside their forecast interval ``[y[..., lower], y[..., upper]]``, ends included.

    Args:
        lower: position of the interval's lower quantile along the forecasts' last dim.
        upper: position of its upper quantile.

    Example:
        >>> coverage = Coverage(0, 2)
        >>> y = torch.tensor([[0.0, 1.0, 2.0]]).expand(5, 3)
        >>> coverage.update(y, torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0]))
        >>> coverage.compute()
        tensor(0.6000)
    """

    is_differentiable = False
    higher_is_better = None  # the nominal level is best, not 1
    full_state_update = False

    def __init__(self, lower: int, upper: int, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper = lower, upper
        self.add_state("inside", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, targets: Tensor) -> None:
        inside = (targets >= predictions[..., self.lower]) & (targets <= predictions[..., self.upper])
        self.inside += inside.sum()
        self.count += inside.numel()

    def compute(self) -> Tensor:
        return self.inside.float() / self.count


class Width(Metric):
    """The mean width ``y[..., upper] - y[..., lower]`` of forecast intervals (..., Q).

    Args:
        lower: position of the interval's lower quantile along the forecasts' last dim.
        upper: position of its upper quantile.
    """

    is_differentiable = False
    higher_is_better = False  # at a given coverage
    full_state_update = False

    def __init__(self, lower: int, upper: int, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper = lower, upper
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, targets: Tensor | None = None) -> None:
        width = predictions[..., self.upper].float() - predictions[..., self.lower].float()
        self.total += width.sum()
        self.count += width.numel()

    def compute(self) -> Tensor:
        return self.total / self.count
