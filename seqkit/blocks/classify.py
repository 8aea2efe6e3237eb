"""The classify head: one class per sequence (a spoken word), pooled over its valid steps."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from seqkit.errors import SeqkitError


class Classify(nn.Module):
    """One class per sequence: pool the back-end's states over each sequence's valid steps, then
    Dropout + Linear to the classes; cross-entropy, accuracy and a confusion matrix.

    The classes are the tokenizer's units, and each sequence's target is its single unit (a
    spoken digit with ``data.digits=isolated data.units=words``).

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: the classes: units of the tokenizer (derived from the data).
        pooling: ``mean`` over the valid steps, ``max`` over them, or the ``last`` valid one.
        dropout: dropout before the projection.

    Example:
        >>> head = Classify(in_dim=16, vocab_size=10)
        >>> logits, lengths = head(torch.randn(3, 20, 16), torch.tensor([20, 15, 4]))
        >>> tuple(logits.shape), lengths.tolist()
        ((3, 10), [1, 1, 1])
    """

    POOLINGS = ("mean", "max", "last")

    def __init__(self, in_dim: int, vocab_size: int, pooling: str = "mean", dropout: float = 0.0):
        super().__init__()
        if pooling not in self.POOLINGS:
            raise SeqkitError(f"classify pooling must be one of {', '.join(self.POOLINGS)}, got {pooling!r}")
        self.pooling, self.classes = pooling, vocab_size
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, vocab_size)
        self.out_dim = vocab_size

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        steps = torch.arange(x.shape[1], device=x.device)
        valid = (steps.unsqueeze(0) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
        if self.pooling == "mean":
            pooled = (x * valid).sum(1) / valid.sum(1).clamp(min=1)  # (B, T, H) -> (B, H)
        elif self.pooling == "max":
            pooled = x.masked_fill(~valid, float("-inf")).amax(1)
        else:
            pooled = x[torch.arange(x.shape[0], device=x.device), (lengths - 1).clamp(min=0)]
        logits = self.project(self.dropout(pooled)).float()  # (B, classes)
        return logits, torch.ones_like(lengths)

    def labels(self, batch: dict) -> Tensor:
        """Each sequence's class: its one target unit."""
        lengths = batch.get("target_lengths")
        if lengths is not None and bool((lengths != 1).any()):
            raise SeqkitError("the classify head needs exactly one unit per sequence: use data.digits=isolated "
                              "with data.units=words")
        return batch["targets"].reshape(len(batch["targets"]), -1)[:, 0]

    def loss(self, logits: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        return nn.functional.cross_entropy(logits, self.labels(batch))

    def metrics(self, **info) -> MetricCollection:
        """Accuracy and the confusion matrix (rows: true class, columns: predicted)."""
        return MetricCollection({"accuracy": MulticlassAccuracy(self.classes, average="micro"),
                                 "confusion": MulticlassConfusionMatrix(self.classes)})

    def update(self, metrics: MetricCollection, logits: Tensor, lengths: Tensor, batch: dict) -> None:
        metrics.update(logits, self.labels(batch))
