"""Batches of speech bounded by audio seconds: utterances of similar duration together (little
padding), a batch's padded length times its size within a budget (no batch too big for memory),
shuffled within duration buckets and across batches, the same for a seed and an epoch."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler

from seqkit.errors import SeqkitError


class DurationBatches(Sampler):
    """Batches of utterance indices whose padded audio (the longest utterance's seconds times the
    batch's size) stays within `max_seconds`.

    Each epoch the utterances are sorted by duration into `buckets` groups of equal count, shuffled
    within each group, packed in order into the largest batches the budget allows, and the batches
    shuffled; the order depends only on (seed, epoch) (Lightning calls `set_epoch`). Without
    `shuffle`, batches follow the durations, shortest first.

    Args:
        durations: seconds of each utterance.
        max_seconds: the budget of padded audio seconds per batch.
        buckets: groups of similar duration that utterances are shuffled within.
        shuffle: shuffle within buckets and the batches' order.
        seed: seeds the shuffling.
        max_count: at most this many utterances per batch (None: only the budget bounds it).

    Example:
        >>> sampler = DurationBatches([1.0, 1.1, 5.0, 0.9, 4.8, 1.2], max_seconds=10.0, buckets=2, shuffle=False)
        >>> list(sampler), len(sampler)
        ([[3, 0, 1], [5, 4], [2]], 3)
    """

    def __init__(self, durations, max_seconds: float, buckets: int = 10, shuffle: bool = True, seed: int = 0,
                 max_count: int | None = None):
        self.durations = np.asarray(durations, dtype=np.float64)
        if not len(self.durations):
            raise SeqkitError("no utterances to batch")
        longest = int(self.durations.argmax())
        if self.durations[longest] > max_seconds:
            raise SeqkitError(f"utterance {longest} lasts {self.durations[longest]:.1f} s, more than the batch budget "
                              f"of {max_seconds:g} s; raise the budget or cut the recording shorter")
        if max_count is not None and max_count < 1:
            raise SeqkitError(f"at most {max_count} utterances per batch: give 1 or more (or none for no limit)")
        self.max_seconds, self.buckets, self.shuffle, self.seed = max_seconds, max(1, buckets), shuffle, seed
        self.max_count = max_count or len(self.durations)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches."""
        rng = np.random.default_rng((self.seed, self.epoch))
        order = np.argsort(self.durations, kind="stable")
        out: list[list[int]] = []
        for group in np.array_split(order, min(self.buckets, len(order))):
            if self.shuffle:
                group = rng.permutation(group)
            batch, longest = [], 0.0
            for index in group.tolist():
                widest = max(longest, self.durations[index])
                if batch and (widest * (len(batch) + 1) > self.max_seconds or len(batch) == self.max_count):
                    out.append(batch)
                    batch, widest = [], self.durations[index]
                batch.append(index)
                longest = widest
            out.append(batch)
        if self.shuffle:
            out = [out[k] for k in rng.permutation(len(out))]
        return out

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
