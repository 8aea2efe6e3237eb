"""Duration-bounded batches on the real AN4 training durations: within the budget, every utterance
once an epoch, the same for a seed, less padding than batches of a fixed size."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from seqkit.data.an4 import read_an4
from seqkit.data.buckets import DurationBatches
from seqkit.errors import SeqkitError


@pytest.fixture(scope="module")
def durations(data_root) -> np.ndarray:
    return np.array([sf.info(u.audio).duration for u in read_an4(data_root / "an4")["train"]])


@pytest.mark.parametrize("budget", [20.0, 60.0, 200.0])
def test_no_batch_exceeds_its_budget_and_every_utterance_comes_once(durations, budget):
    sampler = DurationBatches(durations, budget, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert all(durations[b].max() * len(b) <= budget for b in batches)
        assert sorted(i for b in batches for i in b) == list(range(len(durations)))
        assert len(sampler) == len(batches)


def test_the_order_depends_only_on_seed_and_epoch(durations):
    first, again, other = (DurationBatches(durations, 60.0, seed=s) for s in (1, 1, 2))
    assert list(first) == list(again) and list(first) != list(other)
    again.set_epoch(1)
    assert list(first) != list(again)


def test_less_padding_than_batches_of_a_fixed_size(durations):
    batches = list(DurationBatches(durations, 60.0, seed=0))
    size = round(len(durations) / len(batches))  # as many batches, of a fixed size, in random order
    order = np.random.default_rng(0).permutation(len(durations))
    fixed = [order[k:k + size] for k in range(0, len(order), size)]

    def padding(groups) -> float:
        return sum(durations[g].max() * len(g) - durations[g].sum() for g in groups)

    assert padding(batches) < 0.5 * padding(fixed)


def test_an_utterance_longer_than_the_budget_is_refused(durations):
    with pytest.raises(SeqkitError, match=r"lasts .* s, more than the batch budget of 1 s"):
        DurationBatches(durations, 1.0)
