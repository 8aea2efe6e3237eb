"""Spectral equalisation: filter a speaker's recordings to a reference average spectrum (the
microphone's, the room's and the average voice's colour out; each word's spectral shape kept)."""

from __future__ import annotations

import dataclasses

import numpy as np

SPECTRUM_FFT = 256  # 32 ms frames at 8 kHz: 129 bins, 31 Hz apart


def average_spectrum(waves: list[np.ndarray], n_fft: int = SPECTRUM_FFT) -> np.ndarray:
    """Log of the mean power spectrum of the speech in `waves`, one value per FFT bin.

    Frames (Hann window, half overlap) more than 30 dB below their recording's loudest frame are
    silence and left out, so the spectrum is the voice and the channel, not the pauses.

    Example:
        >>> tone = np.sin(np.arange(8000) * 2 * np.pi * 1000 / 8000).astype(np.float32)
        >>> spectrum = average_spectrum([tone])  # bins 31.25 Hz apart at 8 kHz
        >>> spectrum.shape, int(spectrum.argmax())
        ((129,), 32)
    """
    total, count = np.zeros(n_fft // 2 + 1), 0
    window = np.hanning(n_fft)
    for audio in waves:
        audio = np.pad(audio, (0, max(0, n_fft - len(audio))))
        frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[:: n_fft // 2] * window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, bins)
        energy = power.sum(1)
        speech = energy >= energy.max() * 1e-3
        total += power[speech].sum(0)
        count += int(speech.sum())
    return np.log(total / max(count, 1) + 1e-12)


def equalizer(spectrum: np.ndarray, reference: np.ndarray, limit_db: float = 20.0, smooth: int = 7) -> np.ndarray:
    """Amplitude gain per FFT bin that turns the average `spectrum` into `reference` (both from
    `average_spectrum`): smoothed over `smooth` bins (a short filter) and limited to +-`limit_db`.

    Example:
        >>> gain = equalizer(np.full(129, 2.0), np.zeros(129))  # 2 nats (8.7 dB) too much power
        >>> round(float(gain[64]), 3), round(float(equalizer(np.full(129, 9.0), np.zeros(129))[64]), 3)
        (0.368, 0.1)
    """
    half = (np.asarray(reference) - np.asarray(spectrum)) / 2  # log power -> log amplitude
    kernel = np.ones(smooth) / smooth
    half = np.convolve(np.pad(half, smooth // 2, mode="edge"), kernel, mode="valid")
    limit = limit_db / 20 * np.log(10)
    return np.exp(np.clip(half, -limit, limit))


def equalize(audio: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Filter `audio` by the zero-phase `gain` of `equalizer`; the same length, padded so that
    the filter does not wrap around.

    Example:
        >>> tone = np.sin(np.arange(8000) * 2 * np.pi * 1000 / 8000).astype(np.float32)
        >>> gain = np.ones(129); gain[20:45] = 0.5  # -6 dB around 1 kHz (bins of 31 Hz)
        >>> round(float(equalize(tone, gain)[1000:7000].std() / tone[1000:7000].std()), 3)
        0.5
    """
    n = len(audio) + 2 * (len(gain) - 1)
    spectrum = np.fft.rfft(audio, n)
    bins = np.interp(np.linspace(0, 1, len(spectrum)), np.linspace(0, 1, len(gain)), gain)
    return np.fft.irfft(spectrum * bins, n)[: len(audio)].astype(np.float32)


def equalize_speakers(recordings: list, reference_speakers: list[str]):
    """Each speaker's recordings filtered so that their average spectrum is the mean of the
    `reference_speakers`' (per-speaker spectral mean normalisation, done on the waveform: the
    speaker's microphone, room and average voice colour are taken out, the spectral shape of each
    word is kept). A speaker's statistics come from their own recordings, without transcripts.

    Returns the new recordings and the reference spectrum (log power per FFT bin).
    """
    speakers = sorted({r.speaker for r in recordings})
    spectra = {s: average_spectrum([r.audio for r in recordings if r.speaker == s]) for s in speakers}
    reference = np.mean([spectra[s] for s in speakers if s in reference_speakers], axis=0)
    gains = {s: equalizer(spectra[s], reference) for s in speakers}
    return [dataclasses.replace(r, audio=equalize(r.audio, gains[r.speaker])) for r in recordings], reference


def equalize_waves(waves: dict, reference: np.ndarray, together: bool) -> dict:
    """Each wave of `waves` (a mapping to mono arrays) filtered to the `reference` spectrum, from the
    average spectrum of all of them (one speaker: ``together``) or of each alone.

    Example:
        >>> tone = np.sin(np.arange(8000) * 2 * np.pi * 1000 / 8000).astype(np.float32)
        >>> out = equalize_waves({"a": tone}, average_spectrum([tone]), together=True)
        >>> round(float(out["a"][1000:7000].std() / tone[1000:7000].std()), 2)
        1.0
    """
    shared = average_spectrum(list(waves.values())) if together and waves else None
    return {k: equalize(wave, equalizer(shared if together else average_spectrum([wave]), reference))
            for k, wave in waves.items()}
