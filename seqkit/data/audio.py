"""Audio, whatever the corpus: read any file as mono at a rate, resample, speed-perturb, pad and batch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from seqkit.errors import SeqkitError


def read_audio(path: Path, sample_rate: int | None = None, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Read an audio file as mono float32, resampled to `sample_rate` if given; only the part from
    `start` to `end` seconds (None: the file's end) when they are given.

    Errors name the file: missing, empty, not audio, truncated or without samples.
    """
    path = Path(path)
    if path.is_dir():
        raise SeqkitError(f"{path}: a folder, not an audio file; give the audio files in it")
    if not path.is_file():
        raise SeqkitError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SeqkitError(f"{path}: empty file")
    try:
        with sf.SoundFile(path) as file:
            rate = file.samplerate
            first = round(start * rate)
            if first:
                file.seek(min(first, file.frames))
            audio = file.read(-1 if end is None else max(0, round(end * rate) - first), dtype="float32",
                              always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise SeqkitError(f"{path}: not a readable audio file ({' '.join(str(err).split())[:120]}); "
                          f"give one libsndfile reads: {readable_formats()}") from None
    if audio.shape[0] == 0:
        raise SeqkitError(f"{path}: no audio samples" + (f" from {start:g} s on" if start else ""))
    audio = audio.mean(axis=1)  # down-mix to mono
    if not np.isfinite(audio).all():
        raise SeqkitError(f"{path}: audio holds NaN or infinite samples")
    if sample_rate and rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    return audio


# The usual formats among those libsndfile reads, by soundfile's names for them, as messages name them.
COMMON_FORMATS = {"WAV": "WAV", "FLAC": "FLAC", "OGG": "OGG", "MP3": "MP3", "AIFF": "AIFF", "NIST": "NIST SPHERE"}


def readable_formats() -> str:
    """The common audio formats the installed libsndfile reads, and where to find all of them.

    Example:
        >>> readable_formats().startswith("WAV, FLAC")
        True
    """
    formats = sf.available_formats()
    return ", ".join(name for key, name in COMMON_FORMATS.items() if key in formats) + \
        " ... (soundfile.available_formats())"


def resample(audio: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Resample mono float32 `audio` from `rate` to `new_rate` (ceil(n * new_rate / rate) samples).

    torchaudio's band-limited polyphase filter for the usual ratios (48 or 44.1 kHz to 8 kHz);
    for an awkward ratio such as 44,101 Hz, whose filter would have thousands of phases and take
    minutes, the same band limit applied in the frequency domain.

    Example:
        >>> tone = np.zeros(4410, np.float32)
        >>> len(resample(tone, 44100, 8000)), len(resample(tone, 44101, 8000))
        (800, 800)
    """
    ratio = max(rate, new_rate) // math.gcd(rate, new_rate)
    if ratio <= 1000:
        return AF.resample(torch.from_numpy(audio), rate, new_rate).numpy()
    # Zero-pad to a whole number of input periods of the ratio, so that the output samples fall
    # exactly 1/new_rate apart, keep the spectrum below the new Nyquist frequency, then trim.
    period = rate // math.gcd(rate, new_rate)
    padded = -(-len(audio) // period) * period
    length = padded * new_rate // rate
    spectrum = np.fft.rfft(audio, padded)
    kept = np.zeros(length // 2 + 1, dtype=spectrum.dtype)
    bins = min(len(spectrum), len(kept))
    kept[:bins] = spectrum[:bins]
    resampled = np.fft.irfft(kept, length) * (length / padded)
    return resampled[: -(-len(audio) * new_rate // rate)].astype(np.float32)


def stretched_length(samples: int, factor: float) -> int:
    """The samples of `samples` played `factor` times faster (`speed_perturb`), at least one."""
    return max(1, round(samples / factor))


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `audio` `factor` times faster (tempo and pitch together, as Kaldi's speed
    perturbation), by linear interpolation; factor 1 returns it unchanged.

    Example:
        >>> len(speed_perturb(np.zeros(8000, np.float32), 1.1)), len(speed_perturb(np.zeros(8000, np.float32), 0.9))
        (7273, 8889)
    """
    if factor == 1.0:
        return audio
    positions = np.arange(stretched_length(len(audio), factor)) * factor  # where each new sample reads the old
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)



def pad_waves(waves: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms (1-D arrays or tensors) as one zero-padded batch (B, T, 1), and their lengths.

    Example:
        >>> inputs, lengths = pad_waves([np.ones(3, np.float32), np.ones(5, np.float32)])
        >>> tuple(inputs.shape), lengths.tolist(), inputs[0, :, 0].tolist()
        ((2, 5, 1), [3, 5], [1.0, 1.0, 1.0, 0.0, 0.0])
    """
    lengths = torch.tensor([len(w) for w in waves])
    inputs = torch.zeros(len(waves), int(lengths.max()), 1)
    for k, wave in enumerate(waves):
        inputs[k, : len(wave), 0] = torch.as_tensor(wave)
    return inputs, lengths


def batched(waves, batch_size: int = 32) -> list[tuple[list, torch.Tensor, torch.Tensor]]:
    """Mono waveforms (a list, or a mapping from keys to them) in padded batches of similar lengths,
    for less padding: (their indices or keys, inputs, lengths) per batch.

    Example:
        >>> [(ids, lengths.tolist()) for ids, _, lengths in batched([np.ones(5), np.ones(2), np.ones(4)], 2)]
        [([1, 2], [2, 4]), ([0], [5])]
    """
    items = waves if isinstance(waves, Mapping) else dict(enumerate(waves))
    order = sorted(items, key=lambda k: len(items[k]))
    return [(ids, *pad_waves([items[k] for k in ids]))
            for ids in (order[start:start + batch_size] for start in range(0, len(order), batch_size))]


def speech_batch(waves: list, texts: list[str], tokenizer) -> dict:
    """A training batch of `waves` with `texts` as their targets: waveforms (B, T, 1) and their
    lengths, the texts' units zero-padded (B, U) and their lengths, the texts."""
    inputs, lengths = pad_waves(waves)
    tokens = [tokenizer.encode(text) for text in texts]
    target_lengths = torch.tensor([len(t) for t in tokens])
    targets = torch.zeros(len(tokens), max(1, int(target_lengths.max())), dtype=torch.long)
    for k, t in enumerate(tokens):
        targets[k, : len(t)] = torch.tensor(t, dtype=torch.long)
    return {"inputs": inputs, "input_lengths": lengths, "targets": targets, "target_lengths": target_lengths,
            "texts": list(texts)}
