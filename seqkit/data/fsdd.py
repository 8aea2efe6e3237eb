"""FSDD (the Free Spoken Digit Dataset): its recordings, its split, and utterances built from them.

Recordings are named ``{digit}_{speaker}_{index}.wav``. Splits follow FSDD's convention
(index 0-4 test, 5-49 train; validation carved from train by index), or hold out whole speakers.
Utterances join recordings into connected words (or take them one by one: isolated); their
transcripts are the recordings' words, so they serve any corpus of one-word recordings
(`seqkit.data.classes` reads a folder of one subfolder per word).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from seqkit.data.audio import read_audio, speed_perturb, stretched_length
from seqkit.errors import SeqkitError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass
class Recording:
    """One recording of one word: the word (its transcript), who says it, which of their takes, the audio.

    Example:
        >>> Recording("seven", "lucas", 3, np.zeros(8, np.float32)).digit
        7
    """

    word: str
    speaker: str
    index: int
    audio: np.ndarray  # float32 samples at the data set's rate

    @property
    def digit(self) -> int:
        """FSDD's label: the word's place in `DIGITS` (for a recording of a digit word only)."""
        return DIGITS.index(self.word)


def read_fsdd(folder: Path, sample_rate: int = 8000) -> list[Recording]:
    """Every ``{digit}_{speaker}_{index}.wav`` under `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SeqkitError(f"{folder}: not a folder of recordings")
    files = sorted(p for p in folder.iterdir() if NAME.match(p.name))
    if not files:
        raise SeqkitError(f"{folder}: no recordings named digit_speaker_index.wav")
    recordings = []
    for path in files:
        digit, speaker, index = NAME.match(path.name).groups()
        recordings.append(Recording(DIGITS[int(digit)], speaker, int(index), read_audio(path, sample_rate)))
    return recordings


def split(recordings: list[Recording], test_speakers: list[str] = (), val_indices: tuple[int, int] = (5, 9)):
    """Train, validation and test recordings.

    Without `test_speakers`: FSDD's split (index 0-4 test), validation the `val_indices` range of
    the rest. With them: every recording of those speakers is test, validation is index 0-4 of the
    other speakers. Either way no recording is in two splits.
    """
    speakers = sorted({r.speaker for r in recordings})
    unknown = [s for s in test_speakers if s not in speakers]
    if unknown:
        raise SeqkitError(f"data.test_speakers: unknown speaker(s) {', '.join(unknown)}; "
                          f"the speakers are {', '.join(speakers)}")
    if test_speakers:
        test = [r for r in recordings if r.speaker in test_speakers]
        rest = [r for r in recordings if r.speaker not in test_speakers]
        val = [r for r in rest if r.index <= 4]
        train = [r for r in rest if r.index > 4]
    else:
        test = [r for r in recordings if r.index <= 4]
        low, high = val_indices
        val = [r for r in recordings if r.index > 4 and low <= r.index <= high]
        train = [r for r in recordings if r.index > 4 and not low <= r.index <= high]
    for name, part in (("train", train), ("validation", val), ("test", test)):
        if not part:
            raise SeqkitError(f"the {name} split has no recordings; check data.test_speakers")
    return {"train": train, "val": val, "test": test}


class Utterances(Dataset):
    """Utterances built deterministically from recordings: utterance i depends only on (seed, i).

    ``connected``: 1-`max_digits` recordings of one speaker joined by pauses of 50-300 ms
    (with optional noise), transcript their words; ``isolated``: one recording each.
    """

    def __init__(self, recordings: list[Recording], count: int, seed: int, digits: str = "connected",
                 max_digits: int = 7, sample_rate: int = 8000, noise: float = 0.0, speed: float = 0.0,
                 snr: tuple[float, float] | None = None):
        if digits not in ("connected", "isolated"):
            raise SeqkitError(f"data.digits must be connected or isolated, got {digits!r}")
        if not 0.0 <= speed < 0.5:
            raise SeqkitError(f"data.speed_perturb must be in [0, 0.5), got {speed}")
        self.recordings, self.seed, self.digits = recordings, seed, digits
        self.count = len(recordings) if digits == "isolated" else count
        self.max_digits, self.sample_rate, self.noise, self.speed = max_digits, sample_rate, noise, speed
        pair = isinstance(snr, Sequence) and not isinstance(snr, str)  # a list, or a config's ListConfig
        if snr is not None and (not pair or len(snr) != 2 or not snr[0] <= snr[1]):
            given = list(snr) if pair else snr
            raise SeqkitError(f"data.noise_snr must be [low, high] in dB with low <= high, got {given!r}")
        self.snr = tuple(snr) if snr is not None else None
        by_speaker: dict[str, list[int]] = {}
        for i, r in enumerate(recordings):
            by_speaker.setdefault(r.speaker, []).append(i)
        self.speakers = sorted(by_speaker)
        self.by_speaker = by_speaker

    def __len__(self) -> int:
        return self.count

    def plan(self, i: int) -> tuple[list[int], list[int], list[float]]:
        """The recordings (indices), the pauses (samples) and the speed factors of utterance i."""
        if self.digits == "isolated":
            picks, pauses = [i % len(self.recordings)], []
        else:
            rng = np.random.default_rng((self.seed, i))
            pool = self.by_speaker[self.speakers[rng.integers(len(self.speakers))]]
            picks = rng.choice(pool, size=rng.integers(1, self.max_digits + 1)).tolist()
            pauses = rng.integers(int(0.05 * self.sample_rate), int(0.3 * self.sample_rate) + 1,
                                  len(picks) - 1).tolist()
        factors = [1.0] * len(picks)
        if self.speed:  # a separate stream: the same recordings and pauses with or without perturbation
            rng = np.random.default_rng((self.seed, i, 2))
            factors = (1 + rng.uniform(-self.speed, self.speed, len(picks))).tolist()
        return picks, pauses, factors

    def length(self, i: int) -> int:
        picks, pauses, factors = self.plan(i)
        return sum(stretched_length(len(self.recordings[p].audio), f) for p, f in zip(picks, factors)) + sum(pauses)

    def transcript(self, i: int) -> str:
        """The transcript of utterance i (without building its audio)."""
        return " ".join(self.recordings[p].word for p in self.plan(i)[0])

    def utterance(self, i: int) -> tuple[np.ndarray, str, list[int]]:
        """Audio, transcript and the recordings used, for utterance i."""
        picks, pauses, factors = self.plan(i)
        parts = []
        for k, p in enumerate(picks):
            if k:
                parts.append(np.zeros(pauses[k - 1], np.float32))
            parts.append(speed_perturb(self.recordings[p].audio, factors[k]))
        audio = np.concatenate(parts)
        if self.noise:
            noise = np.random.default_rng((self.seed, i, 1)).normal(0, self.noise, len(audio))
            audio = audio + noise.astype(np.float32)
        if self.snr:  # white noise at a random signal-to-noise ratio, relative to this utterance's level
            rng = np.random.default_rng((self.seed, i, 3))
            level = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) / 10 ** (rng.uniform(*self.snr) / 20)
            audio = audio + rng.normal(0, level, len(audio)).astype(np.float32)
        return audio, " ".join(self.recordings[p].word for p in picks), picks
