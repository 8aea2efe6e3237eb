"""Back-ends: recurrent stacks, ``(B, T, in_dim) -> (B, T', out_dim)``.

Every back-end takes the same size arguments (`hidden`, `layers`, `dropout`, `bidirectional`),
so swapping one for another is a one-word change in a config.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqkit.blocks.decoding import broadcast_step
from seqkit.errors import SeqkitError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def run_packed(rnn: nn.RNNBase, x: Tensor, lengths: Tensor, state=None):
    """Run `rnn` over padded `x` (B, T, D), packing only when the lengths differ.

    Returns the padded outputs (B, T, H) and the final state (that of each sequence's last valid
    step). Packing skips the padded steps, so they influence neither outputs nor state.
    """
    steps = x.shape[1]
    if bool((lengths == steps).all()):
        return rnn(x, state)
    packed = pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
    y, state = rnn(packed, state)
    y, _ = pad_packed_sequence(y, batch_first=True, total_length=steps)
    return y, state


def _check_sizes(hidden: int, layers: int, dropout: float) -> None:
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
    ):
        super().__init__()
        _check_sizes(hidden, layers, dropout)
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
        self.dropout = nn.Dropout(dropout)  # between stacked layers
        self.out_dim = hidden * directions
        self.provides: dict = {}

    def reset_state(self) -> None:
        """Forget the carried state: the next batch starts every row from zeros."""
        self.state = None

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        carried = self.state if self.stateful and self._fits(self.state, x) else None
        finals = []
        for layer, forward_rnn in enumerate(self.forward_layers):
            if layer:
                x = self.dropout(x)
            if self.stateful:  # each row's state after its last valid step
                y, final = run_packed(forward_rnn, x, lengths, carried[layer] if carried else None)
                finals.append(_detach(final))
            else:
                y, _ = forward_rnn(x)
            if self.backward_layers:
                back, _ = self.backward_layers[layer](reverse_within(x, lengths))
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

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional.

    Example:
        >>> rnn = RNN(in_dim=8, hidden=16, layers=2, bidirectional=True)
        >>> y, lengths = rnn(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape), rnn.out_dim
        ((3, 5, 32), 32)
    """

    cell = "rnn"


class LSTM(Recurrent):
    """LSTM stack over variable-length sequences.

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional.

    Example:
        >>> lstm = LSTM(in_dim=8, hidden=16)
        >>> y, lengths = lstm(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape)
        (3, 5, 16)
    """

    cell = "lstm"


class GRU(Recurrent):
    """GRU stack over variable-length sequences.

    Args: as `Recurrent`: in_dim, hidden, layers, dropout, bidirectional.

    Example:
        >>> gru = GRU(in_dim=8, hidden=16, layers=2)
        >>> y, lengths = gru(torch.randn(3, 5, 8), torch.tensor([5, 4, 2]))
        >>> tuple(y.shape)
        (3, 5, 16)
    """

    cell = "gru"


class SegRNN(nn.Module):
    """SegRNN (Lin et al., 2023): a recurrent encoder over segments, then multi-step decoding.

    The encoder reads the segment embeddings; decoding produces one hidden state per output
    segment (``pred_len / seg_len`` of them), which the `forecast` head turns into values.
    ``pmf`` (parallel) starts every output segment from the encoder's final state, with a learnt
    position embedding joined to a channel embedding as input (each half the input size).
    ``rmf`` (recurrent) reads each predicted segment back in; it has its own read-out and
    re-embedding layers for that feedback. Without `pred_len` (outside forecasting) it returns
    the encoder's outputs, a segment-wise recurrent encoder.

    Args:
        in_dim: size of each input segment's embedding (derived from the front-end).
        pred_len: steps to forecast (derived from the data); None for an encoder only.
        seg_len: steps per segment (derived from the front-end).
        channels: channels of the series; rows of the batch cycle through them (derived).
        hidden: units of the recurrent layer.
        layers: stacked recurrent layers.
        dropout: dropout between stacked layers.
        bidirectional: must stay False: decoding continues the encoder's state forwards.
        cell: ``gru``, ``lstm`` or ``rnn``.
        decoding: ``pmf`` (parallel multi-step) or ``rmf`` (recurrent multi-step).
        channel_embedding: join a per-channel embedding to the position embedding (pmf).

    Example:
        >>> seg = SegRNN(in_dim=32, pred_len=96, seg_len=24, channels=7, hidden=32)
        >>> y, lengths = seg(torch.randn(14, 30, 32), torch.full((14,), 30))
        >>> tuple(y.shape), lengths[0].item(), seg.provides
        ((14, 4, 32), 4, {'out_steps': 4})
    """

    def __init__(
        self,
        in_dim: int,
        pred_len: int | None = None,
        seg_len: int | None = None,
        channels: int = 1,
        hidden: int = 512,
        layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        cell: str = "gru",
        decoding: str = "pmf",
        channel_embedding: bool = True,
    ):
        super().__init__()
        _check_sizes(hidden, layers, dropout)
        if cell not in CELLS:
            raise SeqkitError(f"segrnn cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if decoding not in ("pmf", "rmf"):
            raise SeqkitError(f"segrnn decoding must be pmf or rmf, got {decoding!r}")
        self.cell, self.decoding, self.channels = cell, decoding, channels
        self.out_steps = 0
        if pred_len is None:  # an encoder only: the plain stack of this cell
            self.encoder = {"gru": GRU, "lstm": LSTM, "rnn": RNN}[cell](in_dim, hidden, layers, dropout, bidirectional)
            self.out_dim, self.provides = self.encoder.out_dim, {}
            return
        if bidirectional:
            raise SeqkitError("segrnn cannot be bidirectional when it forecasts: its decoder continues "
                              "the encoder's final state; set model.backend.bidirectional=false")
        self.rnn = CELLS[cell](in_dim, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden
        if not seg_len:
            raise SeqkitError("segrnn decoding needs segments: use it after the segmenter front-end")
        if pred_len % seg_len:
            raise SeqkitError(
                f"pred_len {pred_len} is not a multiple of seg_len {seg_len}: "
                f"choose data.pred_len as a multiple of model.frontend.seg_len"
            )
        self.out_steps = pred_len // seg_len
        if decoding == "pmf":
            half = in_dim // 2 if channel_embedding else in_dim
            self.position = nn.Parameter(torch.randn(self.out_steps, half))
            self.channel = nn.Parameter(torch.randn(channels, in_dim - half)) if channel_embedding else None
        else:
            self.readout = nn.Linear(hidden, seg_len)
            self.reembed = nn.Sequential(nn.Linear(seg_len, in_dim), nn.ReLU())
        self.provides = {"out_steps": self.out_steps}

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if not self.out_steps:
            return self.encoder(x, lengths)
        _, state = run_packed(self.rnn, x, lengths)
        decode = self._pmf if self.decoding == "pmf" else self._rmf
        y = decode(state, x.shape[0])
        return y, torch.full_like(lengths, self.out_steps)

    def _pmf(self, state, rows: int) -> Tensor:
        steps, channels = self.out_steps, self.channels
        if self.channel is None:
            grid, channels = self.position.unsqueeze(0), 1  # (1, m, d): the same for every row
        else:
            if rows % channels:
                raise SeqkitError(f"batch rows {rows} do not cycle through {channels} channels")
            grid = torch.cat([
                self.position.unsqueeze(0).expand(channels, -1, -1),  # (m, d/2) -> (C, m, d/2)
                self.channel.unsqueeze(1).expand(-1, steps, -1),  # (C, d/2) -> (C, m, d/2)
            ], dim=-1)  # (C, m, d)
        if self.rnn.num_layers == 1:
            return broadcast_step(self.rnn, grid, state, channels)  # (B*C, m, H), without repeats
        start = grid.repeat(rows // channels, 1, 1).reshape(rows * steps, 1, -1)
        # (C, m, d) -> (B*C, m, d) -> (B*C*m, 1, d); every segment starts from the encoder's state:
        # (layers, B*C, H) -> (layers, B*C*m, H)
        if isinstance(state, tuple):
            state = tuple(s.repeat_interleave(steps, dim=1) for s in state)
        else:
            state = state.repeat_interleave(steps, dim=1)
        y, _ = self.rnn(start, state)  # (B*C*m, 1, H)
        return y.reshape(rows, steps, -1)  # (B*C*m, 1, H) -> (B*C, m, H)

    def _rmf(self, state, rows: int) -> Tensor:
        outputs = []
        for _ in range(self.out_steps):
            top = (state[0] if isinstance(state, tuple) else state)[-1]  # (B*C, H)
            outputs.append(top)
            segment = self.reembed(self.readout(top)).unsqueeze(1)  # (B*C, H) -> (B*C, 1, d)
            _, state = self.rnn(segment, state)
        return torch.stack(outputs, dim=1)  # m x (B*C, H) -> (B*C, m, H)
