"""SeqModel: the one composition, front-end -> back-end -> head; an Ensemble of them; what a model is.

Commands decide what to do from the model a checkpoint holds (`head_name`: ctc, classify,
forecast, softmax), never from the name of the recipe that trained it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from seqkit.blocks import HEADS, build
from seqkit.errors import SeqkitError


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


class Ensemble(nn.Module):
    """Speech models (`seqkit.SeqModel`) combined frame by frame; decoding, lexicon and language
    model go through the first member's head (`head`).

    Example:
        >>> from seqkit.blocks import CTC, ConvSpectrogram, GRU
        >>> def member():
        ...     back = GRU(8, hidden=8)
        ...     front = ConvSpectrogram(sample_rate=8000, n_mels=16, filters=4, dim=8)
        ...     return SeqModel(front, back, CTC(back.out_dim, vocab_size=5)).eval()
        >>> ensemble = Ensemble([member(), member()])
        >>> log_probs, lengths = ensemble(torch.randn(2, 8000, 1), torch.tensor([8000, 6000]))
        >>> tuple(log_probs.shape), lengths.tolist(), bool(log_probs.exp().sum(-1).sub(1).abs().max() < 1e-5)
        ((2, 25, 6), [25, 19], True)
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise SeqkitError(f"an ensemble needs two or more models, got {len(members)}")
        self.members = nn.ModuleList(members)

    @property
    def head(self) -> nn.Module:
        return self.members[0].head

    carried_state = None  # speech models carry no state between batches

    def reset_state(self, state=None) -> None:
        pass

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        outputs = [member(inputs, lengths) for member in self.members]
        first, first_lengths = outputs[0]
        for k, (out, out_lengths) in enumerate(outputs[1:], 2):
            if out.shape != first.shape or not torch.equal(out_lengths, first_lengths):
                raise SeqkitError(f"ensemble member {k} gives {tuple(out.shape)} outputs where member 1 gives "
                                  f"{tuple(first.shape)}: members must share units and output frame rate "
                                  f"(hop_ms, time_stride)")
        mean = torch.stack([out.float().log_softmax(-1) for out, _ in outputs]).mean(0)
        return mean.log_softmax(-1), first_lengths


def members_of(model: nn.Module) -> list[nn.Module]:
    """The models an ensemble combines, or `model` alone."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


# What a model with each head is, for messages.
DESCRIPTIONS = {"ctc": "a speech recogniser (ctc head)", "classify": "a word classifier (classify head)",
                "forecast": "a forecaster (forecast head)", "softmax": "a language model (softmax head)",
                "adaptive_softmax": "a language model (adaptive_softmax head)"}


def head_name(model: nn.Module) -> str:
    """The registry name of `model`'s head (an ensemble: its members'): what the model can do.

    Example:
        >>> spec = {"frontend": {"name": "segmenter", "seg_len": 24}, "backend": {"name": "gru", "hidden": 8},
        ...         "head": {"name": "forecast"}}
        >>> head_name(build_model(spec, in_dim=7, channels=7, pred_len=24))
        'forecast'
    """
    return next((name for name, cls in HEADS.items() if isinstance(model.head, cls)), type(model.head).__name__)


def describe(model: nn.Module) -> str:
    """What `model` is, in words: ``a forecaster (forecast head)`` ..."""
    name = head_name(model)
    return DESCRIPTIONS.get(name, f"a model with a {name} head")
