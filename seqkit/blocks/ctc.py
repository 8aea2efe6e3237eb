"""CTC decoding: greedy and prefix beam search over per-frame log-probabilities (blank = 0)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch
from torch import Tensor


def greedy(log_probs: Tensor, lengths: Tensor) -> list[list[int]]:
    """Best class per frame, repeats merged, blanks dropped; returns class ids (blank = 0).

    Example:
        >>> lp = torch.log(torch.tensor([[[.1, .9, 0], [.1, .9, 0], [.9, .1, 0], [.1, .9, 0]]]) + 1e-9)
        >>> greedy(lp, torch.tensor([4]))
        [[1, 1]]
    """
    best = log_probs.argmax(-1).cpu()
    out = []
    for row, n in zip(best, lengths.tolist()):
        ids = torch.unique_consecutive(row[:n]).tolist()
        out.append([i for i in ids if i != 0])
    return out


def _logadd(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8, prune: float = -12.0, scorer=None) -> list[int]:
    """The most probable label sequence under CTC, by prefix beam search over one utterance.

    Each prefix keeps two scores: ending in blank and ending in its last label, so that repeated
    labels separated by a blank are told apart from one label held over several frames.

    Args:
        log_probs: (T, V) log-probabilities, class 0 the blank.
        beam: prefixes kept after each frame.
        prune: skip labels whose log-probability at a frame is below this.
        scorer: optional language model (`seqkit.fusion.LanguageModelScorer`): its weighted
            log-probability is added each time a prefix grows by a label, and its end-of-utterance
            score to each final hypothesis (shallow fusion).
    """
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, -math.inf)}
    if scorer is not None:
        scorer.reset()
    for frame in log_probs:
        candidates = np.flatnonzero(frame >= prune).tolist()
        grown: dict[tuple, list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        if scorer is not None:
            scorer.prepare(beams)
        for prefix, (p_blank, p_label) in beams.items():
            total = _logadd(p_blank, p_label)
            bonus = scorer.unit_scores(prefix) if scorer is not None else None
            for c in candidates:
                p = float(frame[c])
                if c == 0:
                    entry = grown[prefix]
                    entry[0] = _logadd(entry[0], total + p)
                    continue
                extend = p + (float(bonus[c]) if bonus is not None else 0.0)
                if prefix and prefix[-1] == c:
                    entry = grown[prefix + (c,)]  # a new c needs a blank in between
                    entry[1] = _logadd(entry[1], p_blank + extend)
                    same = grown[prefix]  # the same c held on
                    same[1] = _logadd(same[1], p_label + p)
                else:
                    entry = grown[prefix + (c,)]
                    entry[1] = _logadd(entry[1], total + extend)
        ranked = sorted(grown.items(), key=lambda kv: _logadd(*kv[1]), reverse=True)[:beam]
        beams = {prefix: tuple(scores) for prefix, scores in ranked}
    if scorer is None:
        return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]))[0])
    scorer.prepare(beams)
    return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]) + scorer.end_score(kv[0]))[0])


def beam_search(log_probs: Tensor, lengths: Tensor, beam: int = 8, scorer=None) -> list[list[int]]:
    """`prefix_beam_search` for every utterance of a (B, T, V) batch."""
    array = log_probs.detach().float().cpu().numpy()
    return [prefix_beam_search(array[k, :n], beam, scorer=scorer) for k, n in enumerate(lengths.tolist())]
