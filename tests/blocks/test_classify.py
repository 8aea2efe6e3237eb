"""The classify head: pooling over valid steps only, and one unit per sequence."""

from __future__ import annotations

import pytest
import torch

import seqkit as sk
from seqkit.errors import SeqkitError


def test_classify_head_pools_only_valid_steps_and_refuses_several_units():
    head = sk.Classify(in_dim=4, vocab_size=3)
    x = torch.randn(2, 6, 4)
    padded = x.clone()
    padded[1, 3:] = 100.0  # padding after row 1's length
    for pooling in ("mean", "max", "last"):
        head.pooling = pooling
        lengths = torch.tensor([6, 3])
        assert torch.allclose(head(x, lengths)[0], head(padded, lengths)[0])
    with pytest.raises(SeqkitError, match="exactly one unit per sequence"):
        head.loss(head(x, lengths)[0], lengths, {"targets": torch.tensor([[1, 2], [0, 0]]),
                                                 "target_lengths": torch.tensor([2, 1])})
