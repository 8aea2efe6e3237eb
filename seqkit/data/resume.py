"""Training batches that a checkpoint can resume exactly, and that several processes can share.

Every data module draws its training batches from a batch sampler whose order depends only on
a seed and the epoch (Lightning calls ``set_epoch`` before each epoch). `ResumableData` saves,
in every checkpoint Lightning writes during ``fit``, where the next training batch is (epoch and
batches already trained in it); on resume its training loader starts right there, skipping the
batches' indices without loading their data. `Resumable` also gives each of several processes
(Lightning DDP) its share of every batch: process r of N takes items r, r+N, ... so that
``data.batch_size`` stays the global batch size.

The training loaders get a generator of their own: a DataLoader draws a number from its
generator every time an epoch's iterator is made, and drawing it from the global one would
shift the dropout masks of a resumed run against an uninterrupted one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Sampler


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0 and 1 without torch.distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def share(items: list, rank: int, world: int) -> list:
    """Process `rank`'s share of a batch: items rank, rank + world, ... (never empty).

    Example:
        >>> share([0, 1, 2, 3, 4], 1, 2), share([7], 1, 2)
        ([1, 3], [7])
    """
    if world == 1:
        return items
    return items[rank::world] or items[rank % len(items): rank % len(items) + 1]


class ShuffledBatches(Sampler):
    """Batches of a shuffled range(size): the permutation of each epoch comes from (seed, epoch).

    Example:
        >>> sampler = ShuffledBatches(5, batch_size=2, drop_last=True, seed=0)
        >>> len(sampler), [len(b) for b in sampler]
        (2, [2, 2])
    """

    def __init__(self, size: int, batch_size: int, drop_last: bool, seed: int):
        self.size, self.batch_size, self.drop_last, self.seed = size, batch_size, drop_last, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size // self.batch_size if self.drop_last else math.ceil(self.size / self.batch_size)

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.size).tolist()
        for k in range(len(self)):
            yield order[k * self.batch_size: (k + 1) * self.batch_size]


class Resumable(Sampler):
    """Wrap a sampler: start the first pass after a resume at a saved position; shard batches.

    Args:
        sampler: yields batches (lists of indices) or, with ``batches=False``, single items.
        batches: whether the items are lists to share between processes (else all take each).
    """

    def __init__(self, sampler, batches: bool = True):
        self.sampler, self.batches, self.skip = sampler, batches, 0

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def resume(self, epoch: int, done: int) -> None:
        """The next pass is epoch `epoch`, from its batch number `done` (0-based)."""
        self.set_epoch(epoch)
        self.skip = done

    def __len__(self) -> int:
        return len(self.sampler)  # the whole epoch: Lightning counts the batches already done

    def __iter__(self):
        skip, self.skip = self.skip, 0
        rank, world = rank_and_world()
        for k, item in enumerate(self.sampler):
            if k >= skip:
                yield share(item, rank, world) if self.batches else item


class ResumableData:
    """Mixin for a LightningDataModule whose ``train_dataloader`` wraps its sampler in `resumable`.

    ``state_dict`` (written into every checkpoint Lightning saves while fitting) records the
    position of the next training batch; ``load_state_dict`` (called by Lightning before it asks
    for the loaders) makes the next training loader start there.
    """

    _resume_at: tuple[int, int] | None = None

    def resumable(self, sampler, batches: bool = True) -> Resumable:
        wrapped = Resumable(sampler, batches)
        if self._resume_at is not None:
            wrapped.resume(*self._resume_at)
            self._resume_at = None
        return wrapped

    def state_dict(self) -> dict:
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.state.fn != "fit":
            return {}
        epoch = trainer.current_epoch
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # the epoch's batches are all trained: the next epoch
            epoch, done = epoch + 1, 0
        return {"epoch": int(epoch), "batches": int(done)}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self._resume_at = (int(state["epoch"]), int(state["batches"]))


def share_rows(batch: dict) -> dict:
    """This process's share of the rows of a ready batch (streams of a language model)."""
    rank, world = rank_and_world()
    if world == 1:
        return batch
    return {k: v[rank::world] if isinstance(v, torch.Tensor) and v.dim() else v for k, v in batch.items()}
