"""Front-ends: turn raw input into a feature sequence, ``(B, T, F) -> (B', T', out_dim)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqkit.blocks.norm import NORMS, window_stats
from seqkit.errors import SeqkitError


class Segmenter(nn.Module):
    """Normalise each channel, cut the window into segments of `seg_len` steps and embed each one.

    The SegRNN front-end: every channel becomes its own sequence of segments, so the batch grows
    from B windows to B*C channel rows (row ``b*C + c`` is channel c of window b).

    Args:
        in_dim: channels C of the input series (derived from the data).
        seq_len: window length, checked to be a multiple of `seg_len` (derived from the data).
        seg_len: steps per segment (w); the window length must be a multiple of it.
        dim: size of each segment's embedding (d).
        norm: ``last`` subtracts each channel's last value, ``revin`` standardises each channel over
            the window, ``none`` leaves the values as they are; the `forecast` head undoes it.

    Example:
        >>> seg = Segmenter(in_dim=7, seg_len=24, dim=64)
        >>> y, lengths = seg(torch.randn(2, 720, 7), torch.tensor([720, 720]))
        >>> tuple(y.shape), lengths.tolist()[:3], seg.out_dim
        ((14, 30, 64), [30, 30, 30], 64)
    """

    def __init__(self, in_dim: int, seq_len: int | None = None, seg_len: int = 24, dim: int = 512,
                 norm: str = "last"):
        super().__init__()
        if seq_len is not None and seq_len % seg_len:
            raise SeqkitError(f"seq_len {seq_len} is not a multiple of seg_len {seg_len}: "
                              f"choose data.seq_len as a multiple of model.frontend.seg_len")
        if norm not in NORMS:
            raise SeqkitError(f"segmenter norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if seg_len < 1 or dim < 1:
            raise SeqkitError(f"segmenter seg_len and dim must be positive, got {seg_len} and {dim}")
        self.channels, self.seg_len, self.norm = in_dim, seg_len, norm
        self.embed = nn.Linear(seg_len, dim)
        self.out_dim = dim
        # What the next blocks need to know: rows are single channels, segments are seg_len long.
        self.provides = {"seg_len": seg_len, "norm": norm, "per_channel": True}

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        batch, steps, channels = x.shape
        if steps % self.seg_len:
            raise SeqkitError(
                f"window length {steps} is not a multiple of seg_len {self.seg_len}: "
                f"choose seq_len as a multiple of seg_len"
            )
        shift, scale = window_stats(x, lengths, self.norm)
        x = (x - shift) / scale
        x = x.transpose(1, 2).reshape(batch * channels, steps // self.seg_len, self.seg_len)
        # (B, L, C) -> (B, C, L) -> (B*C, N, w)
        y = torch.relu(self.embed(x))  # (B*C, N, d)
        return y, (lengths // self.seg_len).repeat_interleave(channels)
