"""Language-model blocks: state carried across TBPTT batches (reset by the task), tied embedding and softmax weights."""

from __future__ import annotations

import pytest
import torch

from seqkit.blocks import build
from seqkit.data.text import Streams
from seqkit.errors import SeqkitError
from seqkit.model import build_model

from helpers import LM_SPEC


@pytest.mark.parametrize("weight_drop", [0.0, 0.5])  # weight drop changes nothing in evaluation
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carried_state_equals_running_the_concatenated_sequence(char_ids, cell, weight_drop):
    _, ids = char_ids
    torch.manual_seed(0)
    spec = {**LM_SPEC, "backend": {**LM_SPEC["backend"], "name": cell, "weight_drop": weight_drop}}
    model = build_model(spec, vocab_size=65, in_dim=65).double().eval()
    streams = Streams(ids[:2001], batch_size=4, bptt=40)
    with torch.no_grad():
        pieces = [model(streams[k]["inputs"])[0] for k in range(3)]  # state carried batch to batch
        carried = model.carried_state
        model.reset_state()
        whole = model(torch.cat([streams[k]["inputs"] for k in range(3)], dim=1))[0]
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-10)
    assert torch.allclose(_top(carried), _top(model.carried_state), atol=1e-10)
    assert not _top(carried).requires_grad  # detached: backpropagation stops at the batch boundary


def _top(state):
    last = state[-1]
    return last[0] if isinstance(last, tuple) else last


def test_task_starts_each_epoch_and_validation_with_a_fresh_state():
    from seqkit.task import Task

    model = build_model(LM_SPEC, vocab_size=65, in_dim=65)
    task = Task(model)
    model(torch.randint(0, 65, (4, 10)))
    training_state = model.carried_state
    task.on_validation_epoch_start()
    assert model.carried_state is None
    model(torch.randint(0, 65, (4, 10)))
    task.on_validation_epoch_end()
    assert model.carried_state is training_state  # validation did not disturb the training streams
    task.on_train_epoch_start()
    assert model.carried_state is None


def test_stateful_bidirectional_is_refused():
    with pytest.raises(SeqkitError, match="stateful back-end cannot be bidirectional"):
        build("backend", {"name": "gru", "stateful": True, "bidirectional": True}, in_dim=8)


def test_tied_weights_share_one_tensor_and_stay_shared_through_training_and_checkpoints(tmp_path):
    model = build_model(LM_SPEC, vocab_size=65, in_dim=65)
    table = model.frontend.embedding.weight
    assert model.head.weight is table and model.head.tied
    assert isinstance(model.head.project, torch.nn.Linear)  # LSTM 24 wide, embedding 16: projected
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    logits, lengths = model(torch.randint(0, 65, (2, 12)))
    model.head.loss(logits, lengths, {"targets": torch.randint(0, 65, (2, 12))}).backward()
    optimizer.step()
    assert model.head.weight.data_ptr() == table.data_ptr()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["head.weight"].data_ptr() == state["frontend.embedding.weight"].data_ptr()
    untied = build_model({**LM_SPEC, "head": {"name": "softmax", "tie": False}}, vocab_size=65, in_dim=65)
    assert untied.head.weight is not untied.frontend.embedding.weight and not untied.head.tied
    same_size = build_model({**LM_SPEC, "backend": {"name": "gru", "hidden": 16}}, vocab_size=65, in_dim=65)
    assert isinstance(same_size.head.project, torch.nn.Identity) and same_size.head.tied
