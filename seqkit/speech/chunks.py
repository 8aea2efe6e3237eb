"""Recordings longer than a window, transcribed in chunks with memory that does not grow with them.

The rule (`chunks`): a file of at most `window` seconds is one chunk. A longer one is read in
blocks of `window` seconds (``soundfile`` seek and read, down-mixed and resampled block by block).
Each chunk owns a *core*, and the cores abut: the first starts at 0, each ends at a cut, the next
starts there, the last ends with the file. The cut is the middle of the quietest 20 ms frame
(hop 10 ms) in the `search` seconds before the block's end less a `margin` (by default
``window / 4`` at most 2 s, and ``window / 10`` at most 0.5 s). The chunk decoded is its core
with up to `margin` seconds of context on each side, never more than `window` seconds; a word
belongs to the chunk whose core holds its middle (`Chunk.keeps`), so a word heard in two chunks'
context is counted once. Since a cut is in the quietest place near the window's end, words
seldom straddle one; one that does is heard by both chunks with its context and kept by one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from seqkit.data.audio import read_audio
from seqkit.data.equalize import average_spectrum
from seqkit.errors import SeqkitError

QUIET_FRAME = 0.02  # seconds of the frames whose energy `quietest` compares (hop: half of it)
MIN_WINDOW = 1.0  # the shortest window: a few words


def check_window(window: float) -> float:
    """A ``--window`` value in seconds: at least `MIN_WINDOW` and finite, else a one-line error.

    Example:
        >>> check_window(0)
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: --window must be the seconds of audio decoded at once, at least 1 (e.g. 30), got 0
    """
    try:
        seconds = float(window)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= MIN_WINDOW):
        raise SeqkitError(f"--window must be the seconds of audio decoded at once, at least {MIN_WINDOW:g} "
                          f"(e.g. 30), got {window!r}")
    return seconds


def chunk_sizes(window: float) -> tuple[float, float]:
    """The context margin and the search span of a window, in seconds.

    Example:
        >>> chunk_sizes(30), chunk_sizes(4)
        ((0.5, 2.0), (0.4, 1.0))
    """
    return min(0.5, window / 10), min(2.0, window / 4)


def audio_seconds(path: str | Path) -> float | None:
    """The duration of an audio file from its header, None if libsndfile cannot read it (reading
    it whole then says why)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return info.frames / info.samplerate if info.samplerate else None


def quietest(audio: np.ndarray, low: int, high: int, frame: int) -> int:
    """The middle of the lowest-energy frame of `frame` samples (hop half a frame) that lies in
    ``audio[low:high]``.

    Example:
        >>> wave = np.ones(1000, np.float32); wave[600:640] = 0.0
        >>> quietest(wave, 100, 900, 40)
        620
    """
    hop = max(1, frame // 2)
    low, high = max(0, low), min(len(audio), high)
    if high - low < frame:
        return (low + high) // 2
    power = np.lib.stride_tricks.sliding_window_view(audio[low:high].astype(np.float64) ** 2, frame)[::hop]
    return low + int(power.sum(1).argmin()) * hop + frame // 2


@dataclass
class Chunk:
    """A piece of a recording: its audio (mono at the model's rate) starting `offset` seconds into
    the file, and its core from `start` to `end` seconds (`end` infinite for the last chunk)."""

    audio: np.ndarray
    offset: float
    start: float
    end: float
    rate: int

    def keeps(self, word: dict) -> bool:
        """Whether `word` (with file-time ``start`` and ``end``) is this chunk's: its middle is in the core."""
        return self.start <= (word["start"] + word["end"]) / 2 < self.end

    def core(self) -> np.ndarray:
        """The audio of the core alone (no context)."""
        first = round((self.start - self.offset) * self.rate)
        return self.audio[first:] if math.isinf(self.end) else \
            self.audio[first:round((self.end - self.offset) * self.rate)]


def chunks(path: str | Path, sample_rate: int, window: float, margin: float | None = None,
           search: float | None = None) -> Iterator[Chunk]:
    """The chunks of a recording by the rule above, one block in memory at a time.

    Example:
        >>> import tempfile
        >>> wave = np.random.default_rng(0).normal(0, .1, 8000 * 10).astype(np.float32)
        >>> wave[8000 * 3 + 2000:8000 * 3 + 2400] = 0.0  # 50 ms of silence at 3.25 s
        >>> path = Path(tempfile.mkdtemp()) / "ten.wav"; sf.write(path, wave, 8000)
        >>> [(c.offset, c.start, c.end, round(len(c.audio) / 8000, 2)) for c in chunks(path, 8000, 4.0)][:2]
        [(0.0, 0.0, 3.26, 3.66), (2.86, 3.26, 5.9, 3.44)]
    """
    default_margin, default_search = chunk_sizes(window)
    margin = default_margin if margin is None else margin
    search = default_search if search is None else search
    info = sf.info(str(path))
    rate, total = info.samplerate, info.frames
    span, context, reach = round(window * rate), round(margin * rate), round(search * rate)
    frame = max(1, round(QUIET_FRAME * sample_rate))
    core = 0
    while core < total:
        start = max(0, core - context)
        block = read_audio(Path(path), sample_rate, start / rate, (start + min(span, total - start)) / rate)
        if start + span >= total:
            yield Chunk(block, start / rate, core / rate, math.inf, sample_rate)
            return
        scale = sample_rate / rate  # file samples -> model samples
        last = span - context  # the latest cut, in file samples from `start`
        cut = start + round(quietest(block, round((last - reach) * scale), round(last * scale), frame) / scale)
        keep = round((cut + context - start) * scale)
        yield Chunk(block[:keep], start / rate, core / rate, cut / rate, sample_rate)
        core = cut


def long_spectrum(path: str | Path, sample_rate: int, window: float) -> np.ndarray:
    """A long recording's average spectrum (`average_spectrum`), streamed: the power spectra of
    its chunks' cores averaged, weighted by their length (each core's silence judged against its
    own loudest frame, not the file's)."""
    total, seconds = None, 0.0
    for chunk in chunks(path, sample_rate, window):
        audio = chunk.core()
        power = np.exp(average_spectrum([audio])) * len(audio)
        total = power if total is None else total + power
        seconds += len(audio)
    return np.log(total / max(seconds, 1.0))


def joined(pieces) -> dict:
    """One transcript from (chunk, words) pairs in order: the words each chunk keeps, and their
    text joined by spaces.

    Example:
        >>> first, second = Chunk(np.zeros(1), 0.0, 0.0, 2.0, 8000), Chunk(np.zeros(1), 1.5, 2.0, math.inf, 8000)
        >>> w = lambda word, start, end: {"word": word, "start": start, "end": end}
        >>> both = joined([(first, [w("one", .2, .5), w("two", 1.8, 2.4)]), (second, [w("two", 1.8, 2.3)])])
        >>> both["text"], both["words"][1]  # "two" once: its middle (2.05 s) is in the second core
        ('one two', {'word': 'two', 'start': 1.8, 'end': 2.3})
    """
    words = [word for chunk, found in pieces for word in found if chunk.keeps(word)]
    return {"text": " ".join(word["word"] for word in words), "words": words}
