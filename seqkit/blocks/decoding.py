"""SegRNN's parallel decoding step without repeated work.

(Measured and kept out: a GRU layer with a hand-written backward was no faster than ``nn.GRU`` on
this CPU, whose fused kernel reaches about 0.8 of the float32 matmul rate at SegRNN's size.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


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
