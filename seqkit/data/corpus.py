"""A speech corpus as one list of utterances, whatever its layout: what every corpus reader
(`seqkit.data.manifest`, `seqkit.data.kaldi`, `seqkit.data.an4`, ...) returns, and the splits
derived from it (first N of the sorted ids, named speakers, a fraction of the speakers)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from seqkit.errors import SeqkitError


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus.

    Args:
        id: unique within the corpus (sorting by it gives the corpus's order).
        audio: the audio file.
        text: the transcript, as the corpus writes it (normalisation comes later).
        speaker: who speaks ("" when the corpus does not say).
        start: seconds into the file where the utterance starts.
        end: seconds into the file where it ends; None: the end of the file.
    """

    id: str
    audio: Path
    text: str
    speaker: str = ""
    start: float = 0.0
    end: float | None = None


def first_n(utterances: list[Utterance], n: int) -> tuple[list[Utterance], list[Utterance]]:
    """The first `n` utterances by id, and the rest (ESPnet's AN4 development set: the first 100).

    Example:
        >>> corpus = [Utterance(i, Path(f"{i}.wav"), "a") for i in ("c", "a", "b")]
        >>> [[u.id for u in part] for part in first_n(corpus, 1)]
        [['a'], ['b', 'c']]
    """
    ordered = sorted(utterances, key=lambda u: u.id)
    if not 0 < n < len(ordered):
        raise SeqkitError(f"a split of the first {n} utterances needs 1 to {len(ordered) - 1} of the "
                          f"{len(ordered)} there are")
    return ordered[:n], ordered[n:]


def by_speakers(utterances: list[Utterance], speakers: list[str]) -> tuple[list[Utterance], list[Utterance]]:
    """The utterances of the named `speakers`, and the others; an unknown name is refused.

    Example:
        >>> corpus = [Utterance(i, Path(f"{i}.wav"), "a", speaker=s) for i, s in (("1", "ann"), ("2", "bob"))]
        >>> [[u.id for u in part] for part in by_speakers(corpus, ["bob"])]
        [['2'], ['1']]
    """
    known = sorted({u.speaker for u in utterances})
    unknown = [s for s in speakers if s not in known]
    if unknown:
        raise SeqkitError(f"unknown speaker(s) {', '.join(unknown)}; the speakers are {', '.join(known)}")
    chosen = set(speakers)
    return [u for u in utterances if u.speaker in chosen], [u for u in utterances if u.speaker not in chosen]


def speaker_fraction(utterances: list[Utterance], fraction: float, seed: int = 0) -> tuple[list[Utterance],
                                                                                           list[Utterance]]:
    """About `fraction` of the speakers (at least one, never all), chosen by a hash of each speaker's
    name and `seed` (deterministic, and stable when speakers are added), and the others.

    Example:
        >>> corpus = [Utterance(str(i), Path(f"{i}.wav"), "a", speaker=f"s{i % 10}") for i in range(50)]
        >>> held, rest = speaker_fraction(corpus, 0.2)
        >>> len({u.speaker for u in held}), {u.speaker for u in held} & {u.speaker for u in rest}
        (2, set())
    """
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < 2 or not 0 < fraction < 1:
        raise SeqkitError(f"a fraction of the speakers needs 0 < fraction < 1 and two or more speakers, got "
                          f"{fraction} of {len(speakers)}")
    rank = sorted(speakers, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    count = min(len(speakers) - 1, max(1, round(fraction * len(speakers))))
    return by_speakers(utterances, rank[:count])


CASES = ("upper", "lower", "keep")
PUNCTUATION = ("strip", "keep")


def normalize(text: str, case: str = "keep", punctuation: str = "keep") -> str:
    """A transcript as a recogniser is trained on it: with ``punctuation="strip"`` every character
    that is not a letter, a digit, an apostrophe or a space becomes a space (so "well-known" gives
    two words); then the `case` rule (``upper``, ``lower`` or ``keep``), and the spaces collapsed.

    Example:
        >>> normalize("  Hello,  world -- it's <s>me!", "upper", "strip")
        "HELLO WORLD IT'S S ME"
    """
    if case not in CASES:
        raise SeqkitError(f"data.case must be {', '.join(CASES)}, got {case!r}")
    if punctuation not in PUNCTUATION:
        raise SeqkitError(f"data.punctuation must be strip or keep, got {punctuation!r}")
    if punctuation == "strip":
        text = "".join(c if c.isalnum() or c in "' " else " " for c in text)
    text = text.upper() if case == "upper" else text.lower() if case == "lower" else text
    return " ".join(text.split())
