"""Word timings of a transcript: its units aligned to a CTC model's frames, grouped into words.

The alignment is `torchaudio.functional.forced_align`: the single most likely path (Viterbi) of
the decoded units through the model's per-frame log-probabilities, blanks between them. In the
installed torchaudio (2.11) it is kept and not deprecated (torchaudio 2.9 dropped much of the
library, not this), so seqkit uses it instead of a Viterbi pass of its own.

A unit's span is the run of frames the path gives it; a word starts at the first frame of its
first unit and ends at the end of its last unit's span. Output frame k of the model covers
``k * d`` to ``(k + 1) * d`` seconds, with ``d`` the front-end's ``frame_ms`` times the back-end's
stride (`frame_seconds`). CTC puts most units on one or two "spike" frames, so a word's span is
where the model heard it, not necessarily every millisecond of its sound.
"""

from __future__ import annotations

import math

import torch
import torchaudio.functional as AF

from seqkit.model import members_of


def frame_seconds(model) -> float:
    """Seconds of audio per output frame of a speech model (an ensemble's members share it)."""
    member = members_of(model)[0]
    return member.frontend.frame_ms * member.backend.provides.get("stride", 1) / 1000


def unit_surfaces(tokenizer) -> list[str]:
    """Each unit's text as it stands in a transcript, by id: a character as it is (the space unit
    a space), a sentencepiece piece with its ``▁`` as a leading space, a word with a space before it.

    Example:
        >>> from seqkit.data.tokenizers import CharTokenizer, WordTokenizer
        >>> unit_surfaces(CharTokenizer(" ab")), unit_surfaces(WordTokenizer(["one", "two"]))
        ([' ', 'a', 'b'], [' one', ' two'])
    """
    if tokenizer.kind == "sentencepiece":
        piece = tokenizer.processor.id_to_piece
        return [piece(i).replace("\u2581", " ") for i in range(tokenizer.vocab_size)]
    if tokenizer.kind == "words":
        return [" " + word for word in tokenizer.words]
    return list(tokenizer.chars)


def group_words(units: list[int], surfaces: list[str]) -> list[tuple[str, int, int]]:
    """The words of a unit sequence: (word, position of its first unit, position of its last).

    A unit whose surface (`unit_surfaces`) begins with whitespace starts a new word, one that ends
    with it ends the word; its other characters belong to the word. So the space unit separates
    words of characters, a sentencepiece piece beginning with ``▁`` starts one, and every unit of
    a word tokenizer is a word.

    Example:
        >>> group_words([1, 2, 0, 0, 2, 1], [" ", "o", "n"])  # "on  no"
        [('on', 0, 1), ('no', 4, 5)]
        >>> group_words([0, 1, 2], [" two", " o", "ne"])  # sentencepiece: ▁two ▁o ne
        [('two', 0, 0), ('one', 1, 2)]
    """
    words: list[tuple[str, int, int]] = []
    text, first, last = "", -1, -1
    for k, unit in enumerate(units):
        surface = surfaces[unit]
        if surface[:1].isspace() and text:
            words.append((text, first, last))
            text = ""
        core = surface.strip()
        if core:
            text, first, last = text + core, k if not text else first, k
        if surface[-1:].isspace() and text:
            words.append((text, first, last))
            text = ""
    if text:
        words.append((text, first, last))
    return words


def unit_spans(log_probs: torch.Tensor, units: list[int]) -> list[tuple[int, int]]:
    """Each unit's frames (start, end exclusive) on the best CTC path of `units` (unit u is class
    u + 1, class 0 the blank) through (T, classes) log-probabilities, by `forced_align`.

    Example:
        >>> lp = torch.log(torch.tensor([[.8, .1, .1], [.1, .8, .1], [.1, .8, .1], [.8, .1, .1], [.1, .1, .8]]))
        >>> unit_spans(lp, [0, 1])  # frames 1-2 unit 0, frame 4 unit 1
        [(1, 3), (4, 5)]
    """
    if not units:
        return []
    targets = torch.tensor([[u + 1 for u in units]], dtype=torch.int32)
    path, _ = AF.forced_align(log_probs[None].detach().float().cpu(), targets, blank=0)
    spans: list[list[int]] = []
    previous = 0
    for t, label in enumerate(path[0].tolist()):
        if label != 0 and label == previous:
            spans[-1][1] = t + 1
        elif label != 0:
            spans.append([t, t + 1])
        previous = label
    return [(start, end) for start, end in spans]


class WordTimer:
    """Words with their start and end in seconds, from a CTC model's output and the units decoded
    from it.

    Args:
        tokenizer: the model's tokenizer (characters, words or sentencepiece).
        frame: seconds per output frame (`frame_seconds`).

    Example:
        >>> from seqkit.data.tokenizers import CharTokenizer
        >>> timer = WordTimer(CharTokenizer(" ab"), frame=0.04)
        >>> lp = torch.full((6, 4), -9.0); lp[[0, 2, 4], 0] = 0; lp[1, 2] = lp[3, 1] = lp[5, 3] = 0
        >>> timer.words(lp, [1, 0, 2], offset=1.0)  # "a b": a at frame 1, the space at 3, b at 5
        [{'word': 'a', 'start': 1.04, 'end': 1.08}, {'word': 'b', 'start': 1.2, 'end': 1.24}]
    """

    def __init__(self, tokenizer, frame: float):
        self.surfaces = unit_surfaces(tokenizer)
        self.frame = frame

    def words(self, log_probs: torch.Tensor, units: list[int], offset: float = 0.0,
              seconds: float = math.inf) -> list[dict]:
        """The words of `units` aligned to (T, classes) `log_probs` (one utterance's frames), in
        seconds from `offset` (where the audio starts in its file), to the millisecond; no end past
        the audio's `seconds` (the last frame may reach a little beyond them)."""
        spans = unit_spans(log_probs, units)
        return [{"word": word, "start": round(offset + spans[first][0] * self.frame, 3),
                 "end": round(offset + min(spans[last][1] * self.frame, seconds), 3)}
                for word, first, last in group_words(units, self.surfaces)]
