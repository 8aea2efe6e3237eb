"""SeqModel: the one composition, front-end -> back-end -> head."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from seqkit.blocks import build


class SeqModel(nn.Module):
    """Chain a front-end, a back-end and a head; the head also sees the raw inputs.

    Args:
        frontend: turns raw input (B, T, F) into features (B', T', D).
        backend: recurrent stack over the features.
        head: turns the back-end's states into predictions; owns the loss and the metrics.

    Example:
        >>> from seqkit.blocks import Segmenter, SegRNN, Forecast
        >>> model = SeqModel(Segmenter(7, seg_len=24, dim=32),
        ...                  SegRNN(32, pred_len=48, seg_len=24, channels=7, hidden=32),
        ...                  Forecast(32, pred_len=48, channels=7, out_steps=2, per_channel=True))
        >>> y, lengths = model(torch.randn(4, 96, 7))
        >>> tuple(y.shape)
        (4, 48, 7)
    """

    def __init__(self, frontend: nn.Module, backend: nn.Module, head: nn.Module):
        super().__init__()
        self.frontend, self.backend, self.head = frontend, backend, head

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if lengths is None:
            lengths = torch.full((inputs.shape[0],), inputs.shape[1], device=inputs.device)
        x, x_lengths = self.frontend(inputs, lengths)
        x, x_lengths = self.backend(x, x_lengths)
        return self.head(x, x_lengths, inputs, lengths)

    @property
    def carried_state(self):
        """The state a stateful back-end carries between batches (None if it carries none)."""
        return getattr(self.backend, "state", None)

    def reset_state(self, state=None) -> None:
        """Forget the carried state of a stateful back-end, or put back one saved before."""
        if hasattr(self.backend, "state"):
            self.backend.state = state


def build_model(spec: Mapping, **dims) -> SeqModel:
    """Build a SeqModel from a ``{frontend, backend, head}`` config, deriving every size.

    Each block's ``out_dim`` becomes the next block's ``in_dim``, and what a block ``provides``
    (the segmenter's ``seg_len``, the back-end's decoding steps ...) is passed on to the blocks
    after it, so no size is written twice.

    Args:
        spec: the ``model`` section: three block specs, each ``{name: ..., **arguments}``.
        **dims: sizes from the data, e.g. ``in_dim`` (input features), ``channels``, ``pred_len``.

    Example:
        >>> spec = {"frontend": {"name": "segmenter", "seg_len": 24, "dim": 32},
        ...         "backend": {"name": "segrnn", "hidden": 32},
        ...         "head": {"name": "forecast"}}
        >>> model = build_model(spec, in_dim=7, channels=7, pred_len=96)
        >>> tuple(model(torch.randn(2, 720, 7))[0].shape)
        (2, 96, 7)
    """
    dims = dict(dims)
    blocks = []
    for kind in ("frontend", "backend", "head"):
        block = build(kind, dict(spec[kind]), **dims)
        dims.update(getattr(block, "provides", {}), in_dim=block.out_dim)
        blocks.append(block)
    return SeqModel(*blocks)
