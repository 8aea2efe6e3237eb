"""ONNX translations the exporter lacks or gets wrong, used by `seqkit.export` for ONNX files.

Recurrent layers: `torch.export` unrolls nn.GRU/LSTM/RNN over the time steps of the example it
records, which fixes the sequence length. During an ONNX export each recurrent layer calls the
opaque op ``seqkit::recurrent`` instead (`opaque_recurrent_layers`), and `recurrent_onnx` writes it
as ONNX's own GRU/LSTM/RNN operators, which take any length. `stft_onnx` replaces the STFT
operator, whose onnxruntime kernel is far less accurate than torch's FFT.

Example:
    >>> rnn = nn.GRU(4, 8, num_layers=2, batch_first=True)
    >>> x = torch.randn(3, 5, 4)
    >>> with opaque_recurrent_layers(rnn):
    ...     y, h = rnn(x)
    >>> torch.allclose(y, rnn(x)[0], atol=1e-6), tuple(h.shape)
    (True, (2, 3, 8))
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
from torch import Tensor, nn

from seqkit.errors import SeqkitError


# One recurrent stack (batch first, one direction, with biases); `mode` is nn.RNNBase's.
@torch.library.custom_op("seqkit::recurrent", mutates_args=())
def _recurrent(x: Tensor, h0: Tensor, c0: Tensor, weights: list[Tensor], mode: str, layers: int) -> tuple[
        Tensor, Tensor, Tensor]:
    args = (weights, True, layers, 0.0, False, False, True)  # biases, no dropout, eval, one direction, batch first
    if mode == "LSTM":
        return torch.lstm(x, [h0, c0], *args)
    y, h = {"GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}[mode](x, h0, *args)
    return y, h, c0.clone()


@_recurrent.register_fake
def _(x, h0, c0, weights, mode, layers):
    return x.new_empty(x.shape[0], x.shape[1], h0.shape[-1]), torch.empty_like(h0), torch.empty_like(c0)


def recurrent_forward(rnn: nn.RNNBase, x: Tensor, state=None):
    zeros = x.new_zeros(rnn.num_layers, x.shape[0], rnn.hidden_size)
    lstm = rnn.mode == "LSTM"
    h0, c0 = (zeros, zeros) if state is None else state if lstm else (state, zeros)
    weights = [w for layer in rnn.all_weights for w in layer]
    y, h, c = torch.ops.seqkit.recurrent(x, h0, c0, weights, rnn.mode, rnn.num_layers)
    return y, ((h, c) if lstm else h)


def recurrent_onnx(x, h0, c0, weights, mode: str, layers: int):
    from onnxscript import opset18 as op

    hidden = int(h0.shape[-1])
    order = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}.get(mode, (0,))  # torch's gate blocks in ONNX's order

    def gates(w):  # (G*H, ...) reordered, with a leading direction axis
        blocks = [op.Slice(w, [g * hidden], [(g + 1) * hidden], [0]) for g in order]
        return op.Unsqueeze(op.Concat(*blocks, axis=0) if len(blocks) > 1 else w, [0])

    y = op.Transpose(x, perm=[1, 0, 2])  # (B, T, D) -> (T, B, D)
    finals, cells = [], []
    for layer in range(layers):
        w_ih, w_hh, b_ih, b_hh = weights[4 * layer: 4 * layer + 4]
        bias = op.Concat(gates(b_ih), gates(b_hh), axis=1)  # (1, 2*G*H)
        h = op.Slice(h0, [layer], [layer + 1], [0])  # (1, B, H)
        if mode == "LSTM":
            c = op.Slice(c0, [layer], [layer + 1], [0])
            y, h, c = op.LSTM(y, gates(w_ih), gates(w_hh), bias, None, h, c, hidden_size=hidden)
            cells.append(c)
        elif mode == "GRU":
            y, h = op.GRU(y, gates(w_ih), gates(w_hh), bias, None, h, hidden_size=hidden, linear_before_reset=1)
        else:
            y, h = op.RNN(y, gates(w_ih), gates(w_hh), bias, None, h, hidden_size=hidden,
                          activations=["Tanh" if mode == "RNN_TANH" else "Relu"])
        y = op.Squeeze(y, [1])  # (T, 1, B, H) -> (T, B, H)
        finals.append(h)
    c_out = op.Concat(*cells, axis=0) if cells else op.Identity(c0)
    return op.Transpose(y, perm=[1, 0, 2]), op.Concat(*finals, axis=0), c_out  # (T, B, H) -> (B, T, H)


def stft_onnx(signal, n_fft: int, hop_length=None, win_length=None, window=None, normalized: bool = False,
               onesided=None, return_complex=None):
    """``torch.stft`` as a strided convolution with a float64-computed DFT basis, in ONNX's layout for
    complex results (..., freq, frames, 2). onnxruntime's own STFT operator is some 100 times less
    accurate at n_fft = 200 than torch's FFT, which the log-mel features then amplify."""
    import onnx_ir as ir
    from onnxscript import opset18 as op

    if win_length not in (None, n_fft) or onesided is False:
        raise SeqkitError("ONNX export supports a full-length window and one-sided spectra only")
    freqs = n_fft // 2 + 1
    angle = 2 * np.pi * np.outer(np.arange(freqs), np.arange(n_fft)) / n_fft  # (F, n_fft)
    basis = np.concatenate([np.cos(angle), -np.sin(angle)]).astype(np.float32)  # real, imaginary parts
    weight = op.Constant(value=ir.tensor(basis))
    if window is not None:
        weight = op.Mul(weight, op.Unsqueeze(window, [0]))  # (2F, n_fft) * (1, n_fft)
    if normalized:
        weight = op.Mul(weight, op.Constant(value_float=float(n_fft) ** -0.5))
    rank1 = len(signal.shape) == 1
    x = op.Unsqueeze(signal, [0, 1] if rank1 else [1])  # (B, S) -> (B, 1, S)
    y = op.Conv(x, op.Unsqueeze(weight, [1]), strides=[hop_length or n_fft // 4])  # (B, 2F, frames)
    real, imaginary = op.Split(y, num_outputs=2, axis=1)
    y = op.Concat(op.Unsqueeze(real, [-1]), op.Unsqueeze(imaginary, [-1]), axis=-1)  # (B, F, frames, 2)
    return op.Squeeze(y, [0]) if rank1 else y


@contextlib.contextmanager
def opaque_recurrent_layers(model: nn.Module):
    """Within the block, every nn.GRU/LSTM/RNN of `model` runs through ``seqkit::recurrent``."""
    layers = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    for rnn in layers:
        if not rnn.batch_first or rnn.bidirectional or rnn.proj_size or not rnn.bias:
            raise SeqkitError(f"ONNX export needs batch-first, one-directional recurrent layers with biases: {rnn}")
        rnn.forward = functools.partial(recurrent_forward, rnn)
    try:
        yield
    finally:
        for rnn in layers:
            del rnn.forward
