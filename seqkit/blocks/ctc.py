"""The CTC head and its decoders: greedy and prefix beam search over per-frame log-probabilities
(blank = 0), within a lexicon and with a language model's scores if given."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

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
        scorer: optional language model (`seqkit.speech.fusion.LanguageModelScorer`): its weighted
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


class CTC(nn.Module):
    """Per-frame classes over the units plus a blank, trained with CTC; greedy or beam decoding.

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: units of the tokenizer (derived from the data); class 0 is the blank.
        dropout: dropout before the projection.
        beam: beam width of the beam-search metrics (greedy ones are always reported).

    Example:
        >>> head = CTC(in_dim=16, vocab_size=5)
        >>> log_probs, lengths = head(torch.randn(2, 30, 16), torch.tensor([30, 20]), None, None)
        >>> tuple(log_probs.shape), head.decode(log_probs, lengths, beam=1)[1] == head.decode(log_probs, lengths)[1]
        ((2, 30, 6), True)
    """

    def __init__(self, in_dim: int, vocab_size: int, dropout: float = 0.0, beam: int = 8):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, vocab_size + 1)
        self.beam = beam
        self.scorer = None  # a language model for the beam search, see `fuse`
        self.lexicon = None  # the words the beam search may spell, see `constrain`
        self.out_dim = vocab_size + 1

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        return self.project(self.dropout(x)).float().log_softmax(-1), lengths

    def loss(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """CTC loss per target unit, averaged over the batch; impossible alignments count zero."""
        return nn.functional.ctc_loss(
            log_probs.transpose(0, 1), batch["targets"] + 1, lengths, batch["target_lengths"],
            blank=0, reduction="mean", zero_infinity=True,
        )  # (B, T, V) -> (T, B, V); unit u is class u + 1

    def decode(self, log_probs: Tensor, lengths: Tensor, beam: int = 1) -> list[list[int]]:
        """Unit ids per utterance: greedy for ``beam=1``, else prefix beam search (with the
        language model given to `fuse` and the words given to `constrain`, if any)."""
        if beam <= 1:
            classes = greedy(log_probs, lengths)
        else:
            classes = beam_search(log_probs, lengths, beam, self.scorer, self.lexicon)
        return [[c - 1 for c in row] for row in classes]

    def fuse(self, scorer) -> None:
        """Score beam-search prefixes with a language model from now on (None: stop)."""
        self.scorer = scorer

    def constrain(self, lexicon) -> None:
        """Let the beam search spell only the words of a `seqkit.blocks.ctc.Lexicon` from now on
        (None: any unit sequence)."""
        self.lexicon = lexicon

    @staticmethod
    def choose(log_probs: Tensor, lengths: Tensor, choices: list[list[int]]) -> tuple[list[int], list[float]]:
        """Decoding restricted to a closed set: for every utterance, the index of the most likely
        of `choices` (unit-id sequences) and its log-likelihood, summed over all its alignments
        (``-inf`` when the utterance has too few frames for any of them).

        Isolated-word recognition with a fixed vocabulary is this with one word per choice.

        Example:
            >>> lp = torch.log(torch.tensor([[[.1, .6, .3], [.6, .1, .3], [.6, .1, .3]]]))  # blank, 0, 1
            >>> greedy(lp, torch.tensor([3]))  # class 1 = unit 0, not one of the choices below
            [[1]]
            >>> CTC.choose(lp, torch.tensor([3]), [[1], [0, 1]])[0]  # P(0 1) = 0.291 > P(1) = 0.234
            [1]
        """
        frames = log_probs.transpose(0, 1).float()  # (B, T, V) -> (T, B, V)
        batch = log_probs.shape[0]
        scores = []
        for choice in choices:
            targets = torch.tensor(choice, device=log_probs.device).add(1).expand(batch, -1)  # unit u: class u + 1
            nats = nn.functional.ctc_loss(frames, targets, lengths, torch.full((batch,), len(choice)), blank=0,
                                          reduction="none", zero_infinity=False)
            scores.append(-nats)
        best, index = torch.stack(scores, 1).max(1)  # (B, choices) -> (B,)
        return index.tolist(), best.tolist()

    def metrics(self, tokenizer=None, **info) -> MetricCollection:
        """Word and character error rates of greedy and beam decoding."""
        from seqkit.data.tokenizers import tokenizer_from_data

        metrics = MetricCollection({"wer": WordErrorRate(), "cer": CharErrorRate(),
                                    "wer_beam": WordErrorRate(), "cer_beam": CharErrorRate()})
        metrics.tokenizer = tokenizer_from_data(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        return metrics

    def update(self, metrics: MetricCollection, log_probs: Tensor, lengths: Tensor, batch: dict) -> None:
        tokenizer = metrics.tokenizer
        for suffix, beam in (("", 1), ("_beam", self.beam)):
            texts = [tokenizer.decode(ids) for ids in self.decode(log_probs, lengths, beam)]
            metrics["wer" + suffix].update(texts, batch["texts"])
            metrics["cer" + suffix].update(texts, batch["texts"])
