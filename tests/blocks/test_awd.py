"""AWD-LSTM's regularisers: weight drop on the recurrent back-ends, locked dropout, embedding (whole-word)
dropout, activation regularisation (AR/TAR) on the softmax head; and old checkpoints with the new options."""

from __future__ import annotations

import pytest
import torch

from seqkit.blocks import build
from seqkit.blocks.dropout import LockedDropout
from seqkit.blocks.frontends import Embedding
from seqkit.blocks.softmax import Softmax
from seqkit.errors import SeqkitError
from seqkit.model import build_model

from helpers import LM_SPEC, one_line

AWD = {"frontend": {**LM_SPEC["frontend"], "dropout": 0.4, "locked": True, "word_dropout": 0.1},
       "backend": {**LM_SPEC["backend"], "dropout": 0.3, "locked": True, "weight_drop": 0.5},
       "head": {**LM_SPEC["head"], "dropout": 0.4, "locked": True, "ar": 2.0, "tar": 1.0}}


def hidden_weights(rnn: torch.nn.RNNBase) -> list[torch.Tensor]:
    """Record the hidden-to-hidden matrix `rnn` runs with at each call (a forward pre-hook)."""
    seen: list[torch.Tensor] = []
    rnn.register_forward_pre_hook(lambda module, args: seen.append(module.weight_hh_l0.detach().clone()))
    return seen


# ---------------------------------------------------------------------------------------------
# Weight drop

@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_runs_the_fused_layer_with_a_fresh_dropped_matrix_each_batch(cell):
    torch.manual_seed(0)
    backend = build("backend", {"name": cell, "hidden": 12, "layers": 2, "weight_drop": 0.5}, in_dim=8)
    layer = backend.forward_layers[0]
    parameter = layer.weight_hh_l0
    seen, outputs = hidden_weights(layer), []
    layer.register_forward_hook(lambda module, args, out: outputs.append(out[0]))
    x, lengths = torch.randn(3, 7, 8), torch.tensor([7, 7, 7])
    first, _ = backend(x, lengths)
    second, _ = backend(x, lengths)
    assert not torch.equal(first, second)  # same input, same (zero) state: only the masks differ
    assert len(seen) == 2 and not torch.equal(seen[0], seen[1])
    for used in seen:  # DropConnect: each element zeroed, or kept and scaled by 1 / (1 - p)
        kept = used != 0
        assert torch.allclose(used[kept], 2 * parameter.detach()[kept])
        assert 0.3 < 1 - kept.float().mean() < 0.7
    assert layer.weight_hh_l0 is parameter  # the module holds its own parameter again after the call
    plain = type(layer)(8, 12, batch_first=True)  # the same layer with the recorded matrix as its weights
    plain.load_state_dict({**layer.state_dict(), "weight_hh_l0": seen[1]})
    assert torch.allclose(plain(x)[0], outputs[1], atol=1e-6)
    backend.eval()
    assert torch.equal(backend(x, lengths)[0], backend(x, lengths)[0])


def test_the_optimiser_updates_the_undropped_parameter_through_the_mask():
    torch.manual_seed(0)
    backend = build("backend", {"name": "lstm", "hidden": 12, "weight_drop": 0.5}, in_dim=8)
    layer = backend.forward_layers[0]
    parameters = list(backend.parameters())
    parameter = layer.weight_hh_l0
    before = parameter.detach().clone()
    seen = hidden_weights(layer)
    optimizer = torch.optim.SGD(backend.parameters(), lr=0.1)
    y, _ = backend(torch.randn(4, 9, 8), torch.full((4,), 9))
    y.pow(2).sum().backward()
    assert parameter.grad is not None and parameter.grad.abs().sum() > 0
    dropped = seen[0] == 0
    assert (parameter.grad[dropped] == 0).all() and (parameter.grad[~dropped] != 0).any()  # through the mask
    optimizer.step()
    assert layer.weight_hh_l0 is parameter and all(a is b for a, b in zip(backend.parameters(), parameters))
    assert not torch.equal(parameter.detach(), before)
    assert [n for n, _ in backend.named_parameters()] == [n for n, _ in build(
        "backend", {"name": "lstm", "hidden": 12}, in_dim=8).named_parameters()]


def test_weight_drop_changes_nothing_in_evaluation():
    torch.manual_seed(0)
    dropped = build_model(AWD, vocab_size=65, in_dim=65)
    plain = build_model(LM_SPEC, vocab_size=65, in_dim=65)
    plain.load_state_dict(dropped.state_dict())
    dropped.eval(), plain.eval()
    ids = torch.randint(0, 65, (3, 20))
    with torch.no_grad():
        once = dropped(ids)[0]
        dropped.reset_state()  # stateful: the second call starts from zeros too
        twice = dropped(ids)[0]
        assert torch.equal(once, twice) and torch.equal(once, plain(ids)[0])


def test_weight_drop_while_training_carries_state_over_packed_and_bidirectional_layers():
    torch.manual_seed(0)
    stateful = build("backend", {"name": "lstm", "hidden": 6, "layers": 2, "stateful": True, "weight_drop": 0.4},
                     in_dim=5)
    lengths = torch.tensor([9, 6, 3])  # unequal: the packed path
    for _ in range(2):
        y, _ = stateful(torch.randn(3, 9, 5, requires_grad=True), lengths)
        y.sum().backward()
        assert all(not t.requires_grad for t in stateful.state[-1])  # carried, detached
        assert all(p.grad is not None for p in stateful.parameters())
    both = build("backend", {"name": "gru", "hidden": 6, "bidirectional": True, "weight_drop": 0.4}, in_dim=5)
    backward_seen = hidden_weights(both.backward_layers[0])
    y, _ = both(torch.randn(3, 9, 5), lengths)
    assert y.shape == (3, 9, 12) and (backward_seen[0] == 0).any()  # the backward direction's weights dropped too
    y.sum().backward()
    assert both.backward_layers[0].weight_hh_l0.grad.abs().sum() > 0


def test_weight_drop_under_bf16_autocast():
    torch.manual_seed(0)
    model = build_model(AWD, vocab_size=65, in_dim=65)
    ids = torch.randint(0, 65, (4, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, lengths = model(ids)
        loss = model.head.loss(logits, lengths, {"targets": ids.roll(-1, 1)})
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_new_settings_are_checked_with_one_line_errors():
    for kind, spec, dims, names in [
        ("backend", {"name": "lstm", "weight_drop": 1.0}, {"in_dim": 4}, ["weight_drop", "[0, 1)"]),
        ("frontend", {"name": "embedding", "word_dropout": -0.1}, {"vocab_size": 9}, ["word_dropout"]),
        ("head", {"name": "softmax", "ar": -1.0}, {"in_dim": 4, "vocab_size": 9}, ["ar", "tar"]),
        ("head", {"name": "softmax", "dropout": 1.0, "locked": True}, {"in_dim": 4, "vocab_size": 9}, ["dropout"]),
    ]:
        with pytest.raises(SeqkitError) as error:
            build(kind, spec, **dims)
        one_line(error.value, *names)


# ---------------------------------------------------------------------------------------------
# Locked dropout

def assert_locked(clean: torch.Tensor, dropped: torch.Tensor, p: float) -> None:
    """`dropped` is `clean` (B, T, D) with one 0 or 1/(1-p) factor per sequence and feature, for all steps."""
    factor = dropped / clean  # (B, T, D)
    assert torch.allclose(factor, factor[:, :1].expand_as(factor))  # the same mask at every step
    first = factor[:, 0]
    assert ((first == 0) | torch.isclose(first, torch.tensor(1 / (1 - p)))).all()
    masks = (factor[:, 0] != 0)  # (B, D)
    assert any(not torch.equal(masks[0], m) for m in masks[1:])  # the sequences' masks differ


def test_locked_dropout_shares_its_mask_over_time_and_is_the_identity_in_evaluation():
    torch.manual_seed(0)
    drop = LockedDropout(0.5)
    x = torch.rand(6, 30, 16) + 0.5
    assert_locked(x, drop(x), 0.5)
    assert not torch.equal(drop(x), drop(x))  # a fresh mask per call (per batch)
    assert torch.equal(drop.eval()(x), x)


def test_locked_dropout_on_the_embedding_between_layers_and_in_the_head():
    torch.manual_seed(0)
    embed = Embedding(vocab_size=50, dim=16, dropout=0.5, locked=True)
    ids = torch.randint(0, 50, (6, 25))
    assert_locked(embed.embedding(ids), embed(ids, torch.full((6,), 25))[0], 0.5)
    backend = build("backend", {"name": "lstm", "hidden": 16, "layers": 2, "dropout": 0.5, "locked": True},
                    in_dim=8)
    outputs, inputs = [], []
    backend.forward_layers[0].register_forward_hook(lambda m, args, out: outputs.append(out[0]))
    backend.forward_layers[1].register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
    backend(torch.randn(6, 25, 8), torch.full((6,), 25))
    assert_locked(outputs[0], inputs[0], 0.5)  # between the stacked layers
    head = Softmax(in_dim=16, vocab_size=50, dropout=0.5, locked=True)
    x = torch.rand(6, 25, 16) + 0.5
    assert_locked(x, head.states(x, torch.full((6,), 25)), 0.5)
    assert isinstance(head.dropout, LockedDropout) and not isinstance(Softmax(16, 50, dropout=0.5).dropout,
                                                                      LockedDropout)


# ---------------------------------------------------------------------------------------------
# Embedding dropout: whole words

def test_word_dropout_zeroes_every_occurrence_of_a_dropped_word_and_keeps_the_tie():
    torch.manual_seed(0)
    model = build_model({**LM_SPEC, "frontend": {"name": "embedding", "dim": 16, "word_dropout": 0.5}},
                        vocab_size=12, in_dim=12)
    embed = model.frontend
    table = embed.embedding.weight
    ids = torch.randint(0, 12, (4, 40))  # every word many times
    clean = table.detach()[ids]
    y, _ = embed(ids, torch.full((4,), 40))
    dropped = set()
    for word in ids.unique().tolist():
        rows = y[ids == word]
        if (rows == 0).all():
            dropped.add(word)
        else:  # kept: every occurrence, scaled by 1 / (1 - p)
            assert torch.allclose(rows, 2 * clean[ids == word])
    assert 0 < len(dropped) < len(ids.unique())
    # The head still shares the one table, through a training step.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    logits, lengths = model(ids)
    model.head.loss(logits, lengths, {"targets": ids.roll(-1, 1)}).backward()
    optimizer.step()
    assert model.head.weight is table is embed.embedding.weight and isinstance(table, torch.nn.Parameter)
    assert torch.equal(embed.eval()(ids, torch.full((4,), 40))[0], table.detach()[ids])  # evaluation: none


# ---------------------------------------------------------------------------------------------
# Activation regularisation

def expected_penalty(dropped, states, lengths, ar, tar):
    """AR and TAR written out sequence by sequence over the valid steps."""
    squares = torch.cat([dropped[b, :n] for b, n in enumerate(lengths.tolist())]).pow(2)
    steps = torch.cat([states[b, 1:n] - states[b, :n - 1] for b, n in enumerate(lengths.tolist())]).pow(2)
    return ar * squares.mean() + tar * steps.mean()


@pytest.mark.parametrize("head_name", ["softmax", "adaptive_softmax"])
def test_ar_and_tar_add_exactly_their_terms_to_the_training_loss_only(head_name):
    torch.manual_seed(0)
    dims = {"in_dim": 16, "vocab_size": 30}
    head = build("head", {"name": head_name, "dropout": 0.3, "ar": 2.0, "tar": 1.0}, **dims)
    plain = build("head", {"name": head_name, "dropout": 0.3}, **dims)
    plain.load_state_dict(head.state_dict())
    dropped_seen = []
    head.dropout.register_forward_hook(lambda m, args, out: dropped_seen.append(out))
    x, lengths = torch.randn(3, 10, 16), torch.tensor([10, 7, 4])
    batch = {"targets": torch.randint(0, 30, (3, 10))}
    output, _ = head(x, lengths)
    loss = head.loss(output, lengths, batch)
    plain.train()
    cross_entropy = plain.nats(output, lengths, batch["targets"]).sum() / lengths.sum()
    penalty = expected_penalty(dropped_seen[0], x, lengths, 2.0, 1.0)
    assert torch.allclose(loss, cross_entropy + penalty, atol=1e-6) and penalty > 0
    assert head.penalty is None  # added once
    assert torch.allclose(head.loss(output, lengths, batch), cross_entropy)
    head.eval(), plain.eval()
    with torch.no_grad():
        output, _ = head(x, lengths)
        assert head.penalty is None
        assert torch.equal(head.loss(output, lengths, batch), plain.loss(plain(x, lengths)[0], lengths, batch))
        scores, plain_scores = head.metrics(), plain.metrics()
        head.update(scores, output, lengths, batch)
        plain.update(plain_scores, output, lengths, batch)
    assert scores.compute()["loss"] == plain_scores.compute()["loss"]


# ---------------------------------------------------------------------------------------------
# Checkpoints

def test_old_state_dicts_load_into_models_with_the_new_options_and_back():
    torch.manual_seed(0)
    old, new = build_model(LM_SPEC, vocab_size=65, in_dim=65), build_model(AWD, vocab_size=65, in_dim=65)
    assert list(old.state_dict()) == list(new.state_dict())
    new.load_state_dict(old.state_dict())  # strict: the same keys, the same shapes
    ids = torch.randint(0, 65, (2, 12))
    with torch.no_grad():
        assert torch.equal(old.eval()(ids)[0], new.eval()(ids)[0])
    torch.manual_seed(1)
    retrained = build_model(AWD, vocab_size=65, in_dim=65)
    old.load_state_dict(retrained.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), retrained.state_dict().values()))
