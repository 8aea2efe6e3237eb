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


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8, prune: float = -12.0) -> list[int]:
    """The most probable label sequence under CTC, by prefix beam search over one utterance.

    Each prefix keeps two scores: ending in blank and ending in its last label, so that repeated
    labels separated by a blank are told apart from one label held over several frames.

    Args:
        log_probs: (T, V) log-probabilities, class 0 the blank.
        beam: prefixes kept after each frame.
        prune: skip labels whose log-probability at a frame is below this.
    """
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, -math.inf)}
    for frame in log_probs:
        candidates = np.flatnonzero(frame >= prune)
        grown: dict[tuple, list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_label) in beams.items():
            total = _logadd(p_blank, p_label)
            for c in candidates.tolist():
                p = float(frame[c])
                if c == 0:
                    entry = grown[prefix]
                    entry[0] = _logadd(entry[0], total + p)
                elif prefix and prefix[-1] == c:
                    entry = grown[prefix + (c,)]  # a new c needs a blank in between
                    entry[1] = _logadd(entry[1], p_blank + p)
                    same = grown[prefix]  # the same c held on
                    same[1] = _logadd(same[1], p_label + p)
                else:
                    entry = grown[prefix + (c,)]
                    entry[1] = _logadd(entry[1], total + p)
        ranked = sorted(grown.items(), key=lambda kv: _logadd(*kv[1]), reverse=True)[:beam]
        beams = {prefix: tuple(scores) for prefix, scores in ranked}
    return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]))[0])


def beam_search(log_probs: Tensor, lengths: Tensor, beam: int = 8) -> list[list[int]]:
    """`prefix_beam_search` for every utterance of a (B, T, V) batch."""
    array = log_probs.detach().float().cpu().numpy()
    return [prefix_beam_search(array[k, :n], beam) for k, n in enumerate(lengths.tolist())]
