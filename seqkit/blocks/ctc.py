"""CTC decoding: greedy and prefix beam search over per-frame log-probabilities (blank = 0)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch
from torch import Tensor

from seqkit.errors import SeqkitError


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


class Lexicon:
    """The words a beam search may spell.

    Checked on the text of each grown prefix: every word but the last must be one of `words`, and
    the last must begin one; a finished hypothesis must end on a whole word. Any units whose text
    separates words by single spaces work: characters, whole words, sentencepiece pieces.

    Args:
        words: the vocabulary, e.g. the ten digit words.
        decode: unit ids -> text (the tokenizer's ``decode``).

    Example:
        >>> lexicon = Lexicon(["one", "two"], lambda ids: "".join(" onetw"[i] for i in ids))
        >>> lexicon.allows((2, 3)), lexicon.allows((2, 1)), lexicon.allows((2, 3, 4, 1, 5))  # on, "o ", "one t"
        (True, False, True)
        >>> lexicon.complete((2, 3, 4)), lexicon.complete((2, 3, 4, 1, 5))
        (True, False)
    """

    def __init__(self, words: list[str], decode):
        self.words = set(words)
        self.starts = {w[:k] for w in self.words for k in range(len(w) + 1)}
        self.decode = decode
        self.known: dict[tuple, bool] = {}

    @classmethod
    def of(cls, words, tokenizer, field: str = "lexicon", drop: bool = False) -> Lexicon:
        """The lexicon of `words` for a tokenizer's units; a one-line error (naming `field`) for
        an empty list, a word with a space in it, or one the units cannot spell (with `drop`,
        such words are left out: the model could never spell them anyway)."""
        words = [str(w) for w in words]
        if not words or any(not w or w != "".join(w.split()) for w in words):
            raise SeqkitError(f"{field}: give one or more words without spaces, got {words!r}")
        kept = []
        for word in words:
            try:
                tokenizer.encode(word)
                kept.append(word)
            except SeqkitError as err:
                if not drop:
                    raise SeqkitError(f"{field}: {err}") from None
        if not kept:
            raise SeqkitError(f"{field}: the model's units can spell none of {words!r}")
        return cls(kept, tokenizer.decode)

    def text(self, prefix: tuple) -> str:
        return self.decode([c - 1 for c in prefix])  # class c is unit c - 1 (0 is the blank)

    def allows(self, prefix: tuple) -> bool:
        """Whether `prefix` (class ids) can still become a sequence of the words."""
        if prefix not in self.known:
            parts = self.text(prefix).split(" ")
            self.known[prefix] = parts[-1] in self.starts and (len(parts) < 2 or parts[-2] in self.words)
        return self.known[prefix]

    def complete(self, prefix: tuple) -> bool:
        """Whether `prefix` ends on a whole word (or is empty)."""
        text = self.text(prefix)
        return not text or text.split(" ")[-1] in self.words


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8, prune: float = -12.0, scorer=None,
                       lexicon: Lexicon | None = None) -> list[int]:
    """The most probable label sequence under CTC, by prefix beam search over one utterance.

    Each prefix keeps two scores: ending in blank and ending in its last label, so that repeated
    labels separated by a blank are told apart from one label held over several frames.

    Args:
        log_probs: (T, V) log-probabilities, class 0 the blank.
        beam: prefixes kept after each frame.
        prune: skip labels whose log-probability at a frame is below this (never the blank).
        scorer: optional language model (`seqkit.fusion.LanguageModelScorer`): its weighted
            log-probability is added each time a prefix grows by a label, and its end-of-utterance
            score to each final hypothesis (shallow fusion).
        lexicon: optional `Lexicon`: prefixes only grow into its words, and the result is the best
            hypothesis that ends on a whole word (the best of all if none does).
    """
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, -math.inf)}
    if scorer is not None:
        scorer.reset()
    for frame in log_probs:
        candidates = np.flatnonzero(frame >= prune).tolist()
        if not candidates or candidates[0] != 0:
            candidates.insert(0, 0)  # the blank always: it keeps every prefix alive, whatever a lexicon forbids
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
                repeat = bool(prefix) and prefix[-1] == c
                if repeat:
                    same = grown[prefix]  # the same c held on
                    same[1] = _logadd(same[1], p_label + p)
                if lexicon is not None and not lexicon.allows(prefix + (c,)):
                    continue
                entry = grown[prefix + (c,)]  # after a repeat, a new c needs a blank in between
                entry[1] = _logadd(entry[1], (p_blank if repeat else total) + extend)
        ranked = sorted(grown.items(), key=lambda kv: _logadd(*kv[1]), reverse=True)[:beam]
        beams = {prefix: tuple(scores) for prefix, scores in ranked}
    if lexicon is not None:
        beams = {k: v for k, v in beams.items() if lexicon.complete(k)} or beams
    if scorer is None:
        return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]))[0])
    scorer.prepare(beams)
    return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]) + scorer.end_score(kv[0]))[0])


def beam_search(log_probs: Tensor, lengths: Tensor, beam: int = 8, scorer=None,
                lexicon: Lexicon | None = None) -> list[list[int]]:
    """`prefix_beam_search` for every utterance of a (B, T, V) batch."""
    array = log_probs.detach().float().cpu().numpy()
    return [prefix_beam_search(array[k, :n], beam, scorer=scorer, lexicon=lexicon)
            for k, n in enumerate(lengths.tolist())]
