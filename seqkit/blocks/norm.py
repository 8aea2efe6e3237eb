"""Per-window normalisation of a series, shared by the `segmenter` front-end and the `forecast` head.

Both ends compute the statistics from the raw input window, so no state passes between blocks and
the forecast is put back on the input's scale exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

NORMS = ("last", "revin", "none")


def window_stats(x: Tensor, lengths: Tensor, norm: str, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Return ``(shift, scale)``, each (B, 1, C), so that ``(x - shift) / scale`` is the normalised window.

    Args:
        x: (B, L, C) input windows, padded after ``lengths`` steps.
        lengths: (B,) valid steps of each window.
        norm: ``last`` subtracts each channel's last valid value (SegRNN), ``revin`` standardises
            each channel over the window (RevIN without the affine part), ``none`` leaves it.
        eps: added to the variance for ``revin``.

    Example:
        >>> x = torch.tensor([[[1.0], [2.0], [5.0]]])
        >>> shift, scale = window_stats(x, torch.tensor([3]), "last")
        >>> shift.flatten().tolist(), scale.flatten().tolist()
        ([5.0], [1.0])
    """
    if norm == "none":
        zero = x.new_zeros(x.shape[0], 1, x.shape[2])
        return zero, zero + 1
    if norm == "last":
        index = (lengths - 1).clamp(min=0).to(x.device).view(-1, 1, 1).expand(-1, 1, x.shape[2])
        shift = x.gather(1, index).detach()  # (B, 1, C)
        return shift, torch.ones_like(shift)
    if norm == "revin":
        steps = torch.arange(x.shape[1], device=x.device)
        mask = (steps[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        count = mask.sum(1, keepdim=True).clamp(min=1)
        mean = (x * mask).sum(1, keepdim=True) / count
        var = (((x - mean) * mask) ** 2).sum(1, keepdim=True) / count
        return mean.detach(), torch.sqrt(var + eps).detach()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
