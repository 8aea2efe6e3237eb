"""Back-ends: recurrent stacks, ``(B, T, in_dim) -> (B, T', out_dim)``.

Every back-end takes the same size arguments (`hidden`, `layers`, `dropout`, `bidirectional`),
so swapping one for another is a one-word change in a config.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqkit.blocks.dropout import check_fraction, dropout_layer, weight_dropped
from seqkit.errors import SeqkitError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def exporting() -> bool:
    """True while `torch.export` or TorchScript tracing/scripting records a model (see `seqkit.export`).

    A recorded graph cannot branch on tensor values, so blocks take their padded path then.
    """
    return torch.compiler.is_exporting() or torch.jit.is_tracing() or torch.jit.is_scripting()


def run_packed(rnn: nn.RNNBase | Callable, x: Tensor, lengths: Tensor, state=None):
    """Run `rnn` (a recurrent module, or a callable like one) over padded `x` (B, T, D), packing
    only when the lengths differ.

    Returns the padded outputs (B, T, H) and the final state (that of each sequence's last valid
    step). Packing skips the padded steps, so they influence neither outputs nor state. An
    exported graph always runs unpacked: it is fed full-length rows (forecast windows, token
    chunks), for which both paths give the same numbers.
    """
    steps = x.shape[1]
    if exporting() or bool((lengths == steps).all()):
        return rnn(x, state)
    packed = pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
    y, state = rnn(packed, state)
    y, _ = pad_packed_sequence(y, batch_first=True, total_length=steps)
    return y, state


def check_sizes(hidden: int, layers: int, dropout: float) -> None:
    if hidden < 1 or layers < 1:
        raise SeqkitError(f"hidden and layers must be positive, got hidden={hidden} layers={layers}")
    if not 0.0 <= dropout < 1.0:
        raise SeqkitError(f"dropout must be in [0, 1), got {dropout}")


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of a padded batch within its length; padding stays where it is.

    Applying it twice gives `x` back. Example:
        >>> reverse_within(torch.tensor([[1, 2, 3], [4, 5, 0]]).unsqueeze(-1), torch.tensor([3, 2]))[..., 0]
        tensor([[3, 2, 1],
                [5, 4, 0]])
    """
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class Recurrent(nn.Module):
    """A stack of recurrent layers over right-padded variable-length sequences.

    Padding never reaches a valid output: the forward direction reads it only after each
    sequence's end, and the backward direction reads every sequence reversed within its length.
    (Cheaper on the CPU than packed sequences, whose backward pass re-fills a full-size gradient
    buffer at every step.)

    Args:
        in_dim: input features per step (derived from the front-end).
        hidden: units per layer and direction.
        layers: stacked layers.
        dropout: dropout between stacked layers.
        bidirectional: also read each sequence backwards and concatenate both directions.
        stateful: carry the final state of each batch row into the same row of the next batch
            (detached: truncated backpropagation through time), as for a language model reading
            contiguous streams; `reset_state` forgets it. Forward only.
        weight_drop: while training, DropConnect on every layer's hidden-to-hidden weights (AWD-LSTM's
            weight drop): each element zeroed with this probability, one mask per batch, the fused
            kernel run with the dropped matrix; 0: off. Nothing changes in evaluation.
        locked: make `dropout` locked (variational): one mask per sequence and feature, shared by
            all time steps.
    """

    cell = "gru"

    def __init__(
        self,
        in_dim: int,
        hidden: int = 256,
        layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        stateful: bool = False,
        weight_drop: float = 0.0,
        locked: bool = False,
    ):
        super().__init__()
        check_sizes(hidden, layers, dropout)
        check_fraction(f"{self.cell} weight_drop", weight_drop)
        if stateful and bidirectional:
            raise SeqkitError("a stateful back-end cannot be bidirectional: the backward direction has no "
                              "state to carry into the next batch; set bidirectional=false or stateful=false")
        self.stateful, self.state = stateful, None
        directions = 2 if bidirectional else 1
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        for layer in range(layers):
            size = in_dim if layer == 0 else hidden * directions
            self.forward_layers.append(CELLS[self.cell](size, hidden, batch_first=True))
            if bidirectional:
                self.backward_layers.append(CELLS[self.cell](size, hidden, batch_first=True))
        self.dropout = dropout_layer(dropout, locked)  # between stacked layers
        self.weight_drop = weight_drop
        self.out_dim = hidden * directions
        self.provides: dict = {}

    def runner(self, rnn: nn.RNNBase):
        """`rnn` itself, or while training with `weight_drop`, `rnn` with freshly dropped weights."""
        return weight_dropped(rnn, self.weight_drop) if self.training and self.weight_drop > 0 else rnn

    def reset_state(self) -> None:
        """Forget the carried state: the next batch starts every row from zeros."""
        self.state = None

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        carried = self.state if self.stateful and self._fits(self.state, x) else None
        finals = []
        for layer, forward_rnn in enumerate(self.forward_layers):
            if layer:
                x = self.dropout(x)
            run = self.runner(forward_rnn)
            if self.stateful:  # each row's state after its last valid step
                y, final = run_packed(run, x, lengths, carried[layer] if carried else None)
                finals.append(_detach(final))
            else:
                y, _ = run(x)
            if self.backward_layers:
                back, _ = self.runner(self.backward_layers[layer])(reverse_within(x, lengths))
                y = torch.cat([y, reverse_within(back, lengths)], dim=-1)  # (B, T, 2H)
            x = y
        if self.stateful:
            self.state = finals
        return x, lengths

    @staticmethod
    def _fits(state, x: Tensor) -> bool:
        """A carried state fits a batch of the same number of rows (else it starts afresh)."""
        if not state:
            return False
        first = state[0][0] if isinstance(state[0], tuple) else state[0]
        return first.shape[1] == x.shape[0] and first.device == x.device


def _detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class RNN(Recurrent):
    """Elman RNN stack (tanh), the simplest recurrent back-end.

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional, stateful, weight_drop, locked.

    Example:
        >>> rnn = RNN(in_dim=8, hidden=16, layers=2, bidirectional=True)
        >>> y, lengths = rnn(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape), rnn.out_dim
        ((3, 5, 32), 32)
    """

    cell = "rnn"


class LSTM(Recurrent):
    """LSTM stack over variable-length sequences.

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional, stateful, weight_drop, locked.

    Example:
        >>> lstm = LSTM(in_dim=8, hidden=16)
        >>> y, lengths = lstm(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape)
        (3, 5, 16)
    """

    cell = "lstm"


class GRU(Recurrent):
    """GRU stack over variable-length sequences.

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional, stateful, weight_drop, locked.

    Example:
        >>> gru = GRU(in_dim=8, hidden=16, layers=2)
        >>> y, lengths = gru(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape)
        (3, 5, 16)
    """

    cell = "gru"
