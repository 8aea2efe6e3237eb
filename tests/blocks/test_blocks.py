"""Every registered block through one contract: shapes, lengths, gradients, out_dim."""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seqkit.blocks import BACKENDS, FRONTENDS, HEADS, TABLES, argument_docs, build, parameters
from seqkit.blocks.norm import window_stats
from seqkit.blocks.segrnn import broadcast_step
from seqkit.errors import SeqkitError
from seqkit.model import build_model

B, T, D = 3, 48, 8
LENGTHS = torch.tensor([48, 40, 24])

# One small example per block: spec, derived dims, input shape, lengths, expected rows and steps.
EXAMPLES = {
    "segmenter": ({"name": "segmenter", "seg_len": 12, "dim": 16}, {"in_dim": 5, "seq_len": 48},
                  (B, T, 5), LENGTHS, B * 5, 4),
    "conv_spectrogram": ({"name": "conv_spectrogram", "n_mels": 20, "filters": 4, "dim": 16},
                         {"in_dim": 1, "sample_rate": 8000}, (B, 4000, 1), torch.tensor([4000, 3201, 2000]), B, 12),
    "rnn": ({"name": "rnn", "hidden": 6, "layers": 2, "bidirectional": True}, {"in_dim": D}, (B, T, D), LENGTHS, B, T),
    "lstm": ({"name": "lstm", "hidden": 6, "layers": 2, "dropout": 0.1}, {"in_dim": D}, (B, T, D), LENGTHS, B, T),
    "gru": ({"name": "gru", "hidden": 6, "bidirectional": True}, {"in_dim": D}, (B, T, D), LENGTHS, B, T),
    "segrnn": ({"name": "segrnn", "hidden": 6}, {"in_dim": D}, (B, T, D), LENGTHS, B, T // 4),  # group 4
    "embedding": ({"name": "embedding", "dim": 16, "dropout": 0.1}, {"vocab_size": 11}, (B, T), LENGTHS, B, T),
}
# Front-ends that read token ids rather than real values: their vocabulary size.
TOKEN_INPUTS = {"embedding": 11}

# Heads: (spec, derived dims, back-end output (rows, steps, features), expected prediction shape).
HEAD_EXAMPLES = {
    "forecast": ({"name": "forecast", "dropout": 0.1},
                 {"in_dim": D, "pred_len": 24, "channels": 5, "out_steps": 4, "per_channel": True},
                 (B * 5, 4, D), (B, 24, 5)),
    "ctc": ({"name": "ctc", "dropout": 0.1}, {"in_dim": D, "vocab_size": 6}, (B, 20, D), (B, 20, 7)),
    "softmax": ({"name": "softmax", "dropout": 0.1}, {"in_dim": D, "vocab_size": 11}, (B, 20, D), (B, 20, 11)),
    # while training it returns the states (B, T, in_dim), not V scores: in_dim = V here, so one shape fits both
    "adaptive_softmax": ({"name": "adaptive_softmax", "dropout": 0.1}, {"in_dim": 11, "vocab_size": 11},
                         (B, 20, 11), (B, 20, 11)),
    "classify": ({"name": "classify", "dropout": 0.1}, {"in_dim": D, "vocab_size": 10}, (B, 20, D), (B, 10)),
}

TARGETS = {
    "forecast": lambda shape: {"targets": torch.zeros(shape)},
    "ctc": lambda shape: {"targets": torch.tensor([[1, 2, 3], [4, 4, 0], [5, 0, 0]]),
                          "target_lengths": torch.tensor([3, 2, 1])},
    "softmax": lambda shape: {"targets": torch.randint(0, shape[-1], shape[:2])},
    "adaptive_softmax": lambda shape: {"targets": torch.randint(0, shape[-1], shape[:2])},
    "classify": lambda shape: {"targets": torch.tensor([[3], [0], [9]]), "target_lengths": torch.ones(3, dtype=int)},
}


def test_every_block_has_a_contract_example():
    assert set(EXAMPLES) >= set(FRONTENDS) | set(BACKENDS)
    assert set(HEAD_EXAMPLES) >= set(HEADS) and set(TARGETS) >= set(HEADS)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_contract(name):
    torch.manual_seed(0)
    spec, dims, shape, expected = HEAD_EXAMPLES[name]
    head = build("head", spec, **dims)
    x = torch.randn(*shape, requires_grad=True)
    inputs = torch.randn(expected[0], 48, dims.get("channels", 1))
    y, lengths = head(x, torch.full((shape[0],), shape[1]), inputs, None)
    assert y.shape == expected and lengths.shape == (expected[0],)
    assert head.out_dim == expected[-1]
    loss = head.loss(y, lengths, TARGETS[name](expected))
    loss.backward()
    assert torch.isfinite(loss) and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


@pytest.mark.parametrize("name", sorted(set(FRONTENDS) | set(BACKENDS)))
def test_block_contract(name):
    torch.manual_seed(0)
    spec, dims, shape, lengths_in, rows, steps = EXAMPLES[name]
    kind = "frontend" if name in FRONTENDS else "backend"
    block = build(kind, spec, **dims)
    tokens = TOKEN_INPUTS.get(name)
    x = torch.randint(0, tokens, shape) if tokens else torch.randn(*shape, requires_grad=True)
    y, lengths = block(x, lengths_in)
    assert y.shape == (rows, steps, block.out_dim)
    assert lengths.shape == (rows,) and int(lengths.max()) <= steps
    # Padding after a sequence's length never changes its valid outputs.
    block.eval()
    x2 = x.detach().clone()
    x2[1, int(lengths_in[1]):] = 3 if tokens else 99.0
    y1, lengths1 = block(x.detach(), lengths_in)
    y2, _ = block(x2, lengths_in)
    row = dims["in_dim"] if name == "segmenter" else 1  # first row of window 1
    valid = int(lengths1[row])
    assert torch.allclose(y1[row, :valid], y2[row, :valid], atol=1e-5)
    block.train()
    y.pow(2).sum().backward()
    assert tokens or (x.grad is not None and x.grad.abs().sum() > 0)
    for pname, param in block.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("backend", ["segrnn", "gru", "lstm", "rnn"])
def test_forecast_head_after_every_backend(backend):
    spec = {"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
            "backend": {"name": backend, "hidden": 12}, "head": {"name": "forecast"}}
    model = build_model(spec, in_dim=7, channels=7, seq_len=96, pred_len=48)
    x = torch.randn(2, 96, 7)
    y, lengths = model(x)
    assert y.shape == (2, 48, 7) and lengths.tolist() == [48, 48]
    loss = model.head.loss(y, lengths, {"targets": torch.zeros_like(y)})
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("horizon", [96, 192, 336, 720])
def test_segrnn_pmf_output_shape_for_each_horizon(horizon):
    spec = {"frontend": {"name": "segmenter", "seg_len": 24, "dim": 32},
            "backend": {"name": "segrnn", "hidden": 32}, "head": {"name": "forecast"}}
    model = build_model(spec, in_dim=7, channels=7, seq_len=720, pred_len=horizon)
    assert model.backend.out_steps == horizon // 24
    assert model(torch.randn(2, 720, 7))[0].shape == (2, horizon, 7)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("channel_embedding", [True, False])
def test_deduplicated_pmf_step_equals_the_repeated_one(cell, channel_embedding):
    torch.manual_seed(0)
    rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[cell](6, 5, batch_first=True).double()
    channels, steps, windows = 3, 4, 2
    inputs = torch.randn(channels if channel_embedding else 1, steps, 6, dtype=torch.double)
    h = torch.randn(1, windows * channels, 5, dtype=torch.double)
    state = (h, torch.randn_like(h)) if cell == "lstm" else h
    fast = broadcast_step(rnn, inputs, state, channels if channel_embedding else 1)
    full_inputs = inputs.expand(channels, -1, -1).repeat(windows, 1, 1).reshape(-1, 1, 6)
    if cell == "lstm":
        full_state = tuple(s.repeat_interleave(steps, 1) for s in state)
    else:
        full_state = h.repeat_interleave(steps, 1)
    slow, _ = rnn(full_inputs, full_state)
    assert torch.allclose(fast, slow.reshape(windows * channels, steps, 5), atol=1e-12)


def test_segrnn_rejects_a_horizon_that_is_not_a_multiple_of_seg_len():
    with pytest.raises(SeqkitError, match="pred_len 100 is not a multiple of seg_len 24"):
        build("backend", {"name": "segrnn"}, in_dim=8, pred_len=100, seg_len=24, channels=7)


def test_segmenter_rejects_a_window_that_is_not_a_multiple_of_seg_len():
    with pytest.raises(SeqkitError, match="seq_len 100 is not a multiple of seg_len 24"):
        build("frontend", {"name": "segmenter", "seg_len": 24}, in_dim=7, seq_len=100)


def test_unknown_block_name_lists_the_valid_ones():
    with pytest.raises(SeqkitError, match="unknown backend 'gur'; did you mean gru"):
        build("backend", {"name": "gur"}, in_dim=4)


def test_argument_of_another_block_is_ignored_but_a_typo_fails():
    gru = build("backend", {"name": "gru", "cell": "lstm", "decoding": "pmf", "hidden": 4}, in_dim=3)
    assert gru.out_dim == 4
    with pytest.raises(SeqkitError, match="no backend takes 'hiden'; did you mean hidden"):
        build("backend", {"name": "gru", "hiden": 4}, in_dim=3)
    with pytest.raises(SeqkitError, match="in_dim is derived"):
        build("backend", {"name": "gru", "in_dim": 4}, in_dim=3)


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(x=arrays("float32", (2, 48, 3), elements=finite))
def test_last_value_normalisation_is_undone_exactly(x):
    """With a zero projection the forecast is the normalised zero: exactly each channel's last value."""
    spec = {"frontend": {"name": "segmenter", "seg_len": 12, "dim": 8, "norm": "last"},
            "backend": {"name": "segrnn", "hidden": 8}, "head": {"name": "forecast"}}
    model = build_model(spec, in_dim=3, channels=3, seq_len=48, pred_len=24).eval()
    torch.nn.init.zeros_(model.head.project.weight)
    torch.nn.init.zeros_(model.head.project.bias)
    inputs = torch.from_numpy(x)
    y, _ = model(inputs)
    assert torch.equal(y, inputs[:, -1:, :].expand(-1, 24, -1))


@settings(max_examples=60, deadline=None)
@given(x=arrays("float32", (2, 30, 4), elements=finite), norm=st.sampled_from(["last", "revin", "none"]))
def test_normalise_then_denormalise_returns_the_input(x, norm):
    x = torch.from_numpy(x)
    shift, scale = window_stats(x, torch.tensor([30, 30]), norm)
    back = (x - shift) / scale * scale + shift
    assert torch.allclose(back, x, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("kind, name", [(k, n) for k, t in TABLES.items() for n in t])
def test_every_block_argument_is_described_in_its_docstring(kind, name):
    cls = TABLES[kind][name]
    described = argument_docs(cls)
    missing = [arg for arg in parameters(cls) if not described.get(arg)]
    assert not missing, f"{name}: no description for {missing} in the Args: section"
    assert (inspect.getdoc(cls) or "").strip(), f"{name} has no docstring"
