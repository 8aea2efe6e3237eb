"""The adaptive softmax head of word-level language models (Grave et al. 2017), for large vocabularies."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqkit.blocks.softmax import LanguageModelHead, valid_steps
from seqkit.errors import SeqkitError

# Without `cutoffs`: clusters at these fractions of the vocabulary.
DEFAULT_SPLITS = (0.1, 0.4)


def default_cutoffs(vocab_size: int, in_dim: int, div_value: float) -> list[int]:
    """Cutoffs at `DEFAULT_SPLITS` of the vocabulary, as many as leave each cluster's projection
    (``in_dim / div_value ** k``) at least 1 wide.

    Example:
        >>> default_cutoffs(10000, 512, 4.0), default_cutoffs(10000, 8, 4.0)
        ([1000, 4000], [1000])
    """
    clusters = [k for k in range(1, len(DEFAULT_SPLITS) + 1) if int(in_dim // div_value ** k) >= 1]
    splits = DEFAULT_SPLITS[:max(clusters, default=1)]
    return sorted({min(max(1, round(vocab_size * f)), vocab_size - 1) for f in splits})


def check_cutoffs(cutoffs, vocab_size: int) -> list[int]:
    """The cutoffs as a list; one-line error unless they are increasing token ids from 1 to
    ``vocab_size - 1``.

    Example:
        >>> check_cutoffs((2000, 6000), 10000)
        [2000, 6000]
        >>> check_cutoffs([2000, 10000], 10000)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: adaptive_softmax cutoffs must be increasing token ids from 1 to 9999 ...
    """
    if vocab_size < 2:
        raise SeqkitError(f"the adaptive_softmax head needs 2 tokens or more, got vocab_size={vocab_size}: "
                          f"use the softmax head")
    values = list(cutoffs) if hasattr(cutoffs, "__iter__") and not isinstance(cutoffs, str) else [cutoffs]
    whole = all(isinstance(c, int) and not isinstance(c, bool) for c in values)
    if not values or not whole or values != sorted(set(values)) or values[0] < 1 or values[-1] > vocab_size - 1:
        example = sorted({max(1, vocab_size // 5), max(1, vocab_size * 3 // 5)})
        raise SeqkitError(f"adaptive_softmax cutoffs must be increasing token ids from 1 to {vocab_size - 1} "
                          f"(vocab_size - 1), got {values}: set model.head.cutoffs, e.g. {example}")
    return values


class AdaptiveSoftmax(LanguageModelHead):
    """Adaptive softmax: next-token probabilities by frequency clusters, for large vocabularies.

    The token ids are split at `cutoffs` (seqkit's word units number the words most frequent
    first): a head softmax over the tokens below the first cutoff plus one entry per tail cluster,
    and each cluster's own softmax behind a projection `div_value` times narrower than the one
    before (the layers of ``torch.nn.AdaptiveLogSoftmaxWithLoss``, its log-softmax in float32 under
    autocast). Training scores each target in its cluster only, never all V tokens. Its output
    layers are its own (no weight tying).

    Contract: while training, forward returns the dropped back-end states (B, T, in_dim), not
    scores, from which `loss` (and `nats`) compute each target's log-probability; in evaluation it
    returns the full log-probabilities (B, T, V) (normalised: their softmax is themselves), as
    sampling, LM fusion, export and the test metrics read them. `loss`, `nats` and `update` take
    what forward gave in the same mode.

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: tokens of the tokenizer (derived from the data).
        cutoffs: increasing token ids at which the clusters start, from 1 to vocab_size - 1, e.g.
            [2000, 10000] for a 33k vocabulary; null: at 10% and 40% of the vocabulary (only 10%
            when the back-end's states are too narrow for a second cluster's projection).
        div_value: each cluster's projection is this many times narrower than the previous one.

    Example:
        >>> head = AdaptiveSoftmax(in_dim=16, vocab_size=100, cutoffs=[10, 40]).eval()
        >>> log_probs, lengths = head(torch.randn(2, 5, 16), torch.tensor([5, 5]))
        >>> tuple(log_probs.shape), bool(log_probs.exp().sum(-1).sub(1).abs().max() < 1e-5)
        ((2, 5, 100), True)
        >>> states, _ = head.train()(torch.randn(2, 5, 16), torch.tensor([5, 5]))  # training: the states
        >>> tuple(states.shape)
        (2, 5, 16)
    """

    def __init__(self, in_dim: int, vocab_size: int, cutoffs: list[int] | None = None, div_value: float = 4.0,
                 dropout: float = 0.0, locked: bool = False, ar: float = 0.0, tar: float = 0.0, stride: int = 1):
        super().__init__("adaptive_softmax", dropout, locked, ar, tar, stride)
        if not div_value > 0:
            raise SeqkitError(f"adaptive_softmax div_value must be a positive number, got {div_value}: "
                              f"set model.head.div_value (4 is usual)")
        if cutoffs is None:
            cutoffs = default_cutoffs(vocab_size, in_dim, div_value)
        cutoffs = check_cutoffs(cutoffs, vocab_size)
        if int(in_dim // div_value ** len(cutoffs)) < 1:
            raise SeqkitError(f"adaptive_softmax div_value {div_value} leaves no width to the last cluster's "
                              f"projection ({in_dim} / {div_value}^{len(cutoffs)}): set model.head.div_value "
                              f"to a smaller positive number or give fewer cutoffs")
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(in_dim, vocab_size, cutoffs, div_value=div_value,
                                                      head_bias=True)
        self.out_dim = vocab_size

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        x = self.states(x, lengths)
        if self.training:
            return x, lengths  # (B, T, in_dim): `nats` scores the targets from them
        return self.log_probs(x), lengths

    def log_probs(self, x: Tensor) -> Tensor:
        """Log-probabilities of every token (B, T, V) after states `x` (B, T, in_dim)."""
        flat = x.reshape(-1, x.shape[-1])
        head, short = self.head_log_probs(flat), self.adaptive.shortlist_size  # (N, short + clusters)
        parts = [head[:, :short]] + [tail(flat).float().log_softmax(-1) + head[:, short + k, None]
                                     for k, tail in enumerate(self.adaptive.tail)]  # P(cluster) P(token | cluster)
        return torch.cat(parts, dim=-1).view(*x.shape[:-1], self.out_dim)

    def target_log_probs(self, h: Tensor, targets: Tensor) -> Tensor:
        """log P(target) (N,) after states `h` (N, in_dim): each row scored in its target's cluster only."""
        head, short, cutoffs = self.head_log_probs(h), self.adaptive.shortlist_size, self.adaptive.cutoffs
        column = targets.clone()  # the head's entry of each target: itself, or its cluster's
        within = torch.zeros(len(targets), device=h.device)  # log P(target | cluster); 0 in the shortlist
        for k, tail in enumerate(self.adaptive.tail):
            rows = ((targets >= cutoffs[k]) & (targets < cutoffs[k + 1])).nonzero().squeeze(1)
            column[rows] = short + k
            scores = tail(h[rows]).float().log_softmax(-1)  # (rows, cluster size)
            within = within.index_add(0, rows, scores.gather(1, (targets[rows] - cutoffs[k]).unsqueeze(1))[:, 0])
        return head.gather(1, column.unsqueeze(1))[:, 0] + within

    def head_log_probs(self, h: Tensor) -> Tensor:
        # float32 log-softmax of (possibly bfloat16) scores, as the softmax head's cross-entropy: under CPU
        # autocast the module's own forward and log_prob keep them in bfloat16 (1% off a sum of one)
        return self.adaptive.head(h).float().log_softmax(-1)

    def nats(self, output: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of every target token (B, T), zero past each row's length: from the states while
        training (each target's cluster only), from the log-probabilities in evaluation."""
        valid = valid_steps(lengths, targets.shape[1], targets.device)  # (B, T)
        if not self.training:
            chosen = output.gather(-1, targets.masked_fill(~valid, 0).unsqueeze(-1)).squeeze(-1)  # (B, T)
            return -chosen.float().masked_fill(~valid, 0.0)
        scored = self.target_log_probs(output[valid], targets[valid])  # (N,)
        return torch.zeros(valid.shape, device=scored.device).masked_scatter(valid, -scored)
