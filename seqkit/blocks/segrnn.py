"""The SegRNN back-end: segment-wise recurrence with parallel or recurrent multi-step decoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqkit.blocks.backends import CELLS, GRU, LSTM, RNN, check_sizes, run_packed
from seqkit.errors import SeqkitError


class SegRNN(nn.Module):
    """SegRNN (Lin et al., 2023): a recurrent encoder over segments, then multi-step decoding.

    The encoder reads the segment embeddings; decoding produces one hidden state per output
    segment (``pred_len / seg_len`` of them), which the `forecast` head turns into values.
    ``pmf`` (parallel) starts every output segment from the encoder's final state, with a learnt
    position embedding joined to a channel embedding as input (each half the input size).
    ``rmf`` (recurrent) reads each predicted segment back in; it has its own read-out and
    re-embedding layers for that feedback. Without `pred_len` (outside forecasting) it is a
    segment-wise recurrent encoder: it returns one state per segment, grouping `group` frames
    into a segment itself when the front-end has not (e.g. over conv spectrogram frames).

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
        group: as an encoder over frames that are not segments yet (after a conv spectrogram or
            token embeddings): frames joined into one segment; the output has that many times
            fewer steps.

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
        group: int = 4,
    ):
        super().__init__()
        check_sizes(hidden, layers, dropout)
        if cell not in CELLS:
            raise SeqkitError(f"segrnn cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if decoding not in ("pmf", "rmf"):
            raise SeqkitError(f"segrnn decoding must be pmf or rmf, got {decoding!r}")
        self.cell, self.decoding, self.channels = cell, decoding, channels
        self.out_steps = 0
        if pred_len is None:  # an encoder only: segment-wise recurrence over any frame sequence
            # After the segmenter the steps already are segments; over other frames (a conv
            # spectrogram's, token embeddings) `group` frames are joined and embedded as one
            # segment (Linear + ReLU, as SegRNN's segment embedding), so the recurrence takes
            # `group` times fewer steps.
            self.group = 1 if seg_len else group
            if self.group < 1:
                raise SeqkitError(f"segrnn group must be >= 1, got {group}")
            self.embed = nn.Sequential(nn.Linear(in_dim * self.group, hidden), nn.ReLU()) if self.group > 1 else None
            size = hidden if self.group > 1 else in_dim
            self.encoder = {"gru": GRU, "lstm": LSTM, "rnn": RNN}[cell](size, hidden, layers, dropout, bidirectional)
            self.out_dim, self.provides = self.encoder.out_dim, {"stride": self.group}
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
            if self.embed is not None:
                x, lengths = self._segments(x, lengths)
            return self.encoder(x, lengths)
        _, state = run_packed(self.rnn, x, lengths)
        decode = self._pmf if self.decoding == "pmf" else self._rmf
        y = decode(state, x.shape[0])
        return y, torch.full_like(lengths, self.out_steps)

    def _segments(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Join every `group` frames into one embedded segment; a partial last segment is zero-padded."""
        batch, steps, size = x.shape
        padded = (steps + self.group - 1) // self.group * self.group  # not -(-a // b): ONNX's Div truncates
        valid = torch.arange(steps, device=x.device)[None, :] < lengths.to(x.device)[:, None]
        x = nn.functional.pad(x * valid.unsqueeze(-1), (0, 0, 0, padded - steps))  # zeros past each length
        x = x.reshape(batch, padded // self.group, self.group * size)  # (B, T, D) -> (B, T/g, g*D)
        return self.embed(x), torch.div(lengths + self.group - 1, self.group, rounding_mode="floor")

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


# SegRNN's parallel decoding step without repeated work. (Measured and kept out: a GRU layer with a
# hand-written backward was no faster than ``nn.GRU`` on this CPU, whose fused kernel reaches about
# 0.8 of the float32 matmul rate at SegRNN's size.)
def broadcast_step(rnn: nn.RNNBase, inputs: Tensor, state, channels: int):
    """One step of a one-layer cell where inputs repeat across the batch and states across steps.

    SegRNN's parallel decoding runs B*C*m one-step sequences: input (c, j) is the same for every
    window b, and the initial state of row (b, c) is the same for every output segment j. So the
    input-side product is computed for C*m rows and the state-side one for B*C rows, and the
    gates are combined by broadcasting: the same result as the full product, at a fraction of it.

    Args:
        rnn: a one-layer ``nn.GRU``, ``nn.LSTM`` or ``nn.RNN``.
        inputs: (C, m, D) decoder inputs.
        state: (1, B*C, H) final encoder state, or a pair (h, c) for an LSTM.
        channels: C.

    Returns:
        (B*C, m, H): the state after the step, for every row and output segment.
    """
    c_count, steps, _ = inputs.shape
    h = state[0][0] if isinstance(state, tuple) else state[0]  # (B*C, H)
    hidden = h.shape[-1]
    gi = nn.functional.linear(inputs, rnn.weight_ih_l0, rnn.bias_ih_l0)  # (C, m, G)
    gh = nn.functional.linear(h, rnn.weight_hh_l0, rnn.bias_hh_l0)  # (B*C, G)
    gi = gi.unsqueeze(0)  # (1, C, m, G): the same for every window
    gh = gh.view(-1, channels, 1, gh.shape[-1])  # (B*C, G) -> (B, C, 1, G): the same for every segment
    h = h.view(-1, channels, 1, hidden)  # (B*C, H) -> (B, C, 1, H)
    if isinstance(rnn, nn.GRU):
        rz = torch.sigmoid(gi[..., : 2 * hidden] + gh[..., : 2 * hidden])
        r, z = rz[..., :hidden], rz[..., hidden:]
        n = torch.tanh(gi[..., 2 * hidden:] + r * gh[..., 2 * hidden:])
        out = n + z * (h - n)  # (B, C, m, H)
    elif isinstance(rnn, nn.LSTM):
        cell = state[1][0].view(-1, channels, 1, hidden)
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        out = torch.sigmoid(o) * torch.tanh(cell)
    else:
        act = torch.tanh if rnn.nonlinearity == "tanh" else torch.relu
        out = act(gi + gh).expand(-1, -1, steps, -1)
    return out.reshape(-1, steps, hidden)  # (B, C, m, H) -> (B*C, m, H)
