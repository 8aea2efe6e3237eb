"""Spoken digits from FSDD: reading, splits, connected-digit utterances, length-bucketed batches.

Recordings are named ``{digit}_{speaker}_{index}.wav``. Splits follow FSDD's convention
(index 0-4 test, 5-49 train; validation carved from train by index), or hold out whole speakers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from torch.utils.data import DataLoader, Dataset, Sampler

from seqkit.data.resume import ResumableData
from seqkit.data.root import locate_folder as locate_known_folder
from seqkit.data.text import CharTokenizer, PieceTokenizer, WordTokenizer, tokenizer_from_data
from seqkit.errors import SeqkitError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass
class Recording:
    digit: int
    speaker: str
    index: int
    audio: np.ndarray  # float32 samples at the data set's rate


def read_audio(path: Path, sample_rate: int | None = None) -> np.ndarray:
    """Read an audio file as mono float32, resampled to `sample_rate` if given.

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
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise SeqkitError(f"{path}: not a readable audio file ({' '.join(str(err).split())[:120]}); "
                          f"give a WAV, FLAC or OGG file") from None
    if audio.shape[0] == 0:
        raise SeqkitError(f"{path}: no audio samples")
    audio = audio.mean(axis=1)  # down-mix to mono
    if not np.isfinite(audio).all():
        raise SeqkitError(f"{path}: audio holds NaN or infinite samples")
    if sample_rate and rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    return audio


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
        recordings.append(Recording(int(digit), speaker, int(index), read_audio(path, sample_rate)))
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
    (with optional noise), transcript the digit words; ``isolated``: one recording each.
    """

    def __init__(self, recordings: list[Recording], count: int, seed: int, task: str = "connected",
                 max_digits: int = 7, sample_rate: int = 8000, noise: float = 0.0, speed: float = 0.0,
                 snr: tuple[float, float] | None = None):
        if task not in ("connected", "isolated"):
            raise SeqkitError(f"data.task must be connected or isolated, got {task!r}")
        if not 0.0 <= speed < 0.5:
            raise SeqkitError(f"data.speed_perturb must be in [0, 0.5), got {speed}")
        self.recordings, self.seed, self.task = recordings, seed, task
        self.count = len(recordings) if task == "isolated" else count
        self.max_digits, self.sample_rate, self.noise, self.speed = max_digits, sample_rate, noise, speed
        if snr is not None and (len(snr) != 2 or not snr[0] <= snr[1]):
            raise SeqkitError(f"data.noise_snr must be [low, high] in dB with low <= high, got {list(snr)}")
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
        if self.task == "isolated":
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
        return sum(_stretched(len(self.recordings[p].audio), f) for p, f in zip(picks, factors)) + sum(pauses)

    def transcript(self, i: int) -> str:
        """The transcript of utterance i (without building its audio)."""
        return " ".join(DIGITS[self.recordings[p].digit] for p in self.plan(i)[0])

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
        return audio, " ".join(DIGITS[self.recordings[p].digit] for p in picks), picks


def _stretched(samples: int, factor: float) -> int:
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
    positions = np.arange(_stretched(len(audio), factor)) * factor  # where each new sample reads the old
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)


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


def equalize_speakers(recordings: list[Recording], reference_speakers: list[str]):
    """Each speaker's recordings filtered so that their average spectrum is the mean of the
    `reference_speakers`' (per-speaker spectral mean normalisation, done on the waveform: the
    speaker's microphone, room and average voice colour are taken out, the spectral shape of each
    word is kept). A speaker's statistics come from their own recordings, without transcripts.

    Returns the new recordings and the reference spectrum (log power per FFT bin).
    """
    import dataclasses

    speakers = sorted({r.speaker for r in recordings})
    spectra = {s: average_spectrum([r.audio for r in recordings if r.speaker == s]) for s in speakers}
    reference = np.mean([spectra[s] for s in speakers if s in reference_speakers], axis=0)
    gains = {s: equalizer(spectra[s], reference) for s in speakers}
    return [dataclasses.replace(r, audio=equalize(r.audio, gains[r.speaker])) for r in recordings], reference


class Batches(Sampler):
    """Batches of utterances of similar length (less padding), reshuffled every epoch.

    With ``fresh=True`` epoch e draws utterances ``e*N ... e*N+N-1``: new ones every epoch.
    """

    def __init__(self, data: Utterances, batch_size: int, shuffle: bool, fresh: bool, seed: int = 0):
        self.data, self.batch_size, self.shuffle, self.fresh, self.seed = data, batch_size, shuffle, fresh, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls it before every epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __iter__(self):
        offset = self.epoch * len(self.data) if self.fresh else 0
        rng = np.random.default_rng((self.seed, self.epoch))
        ids = np.arange(len(self.data)) + offset
        if self.shuffle:
            ids = rng.permutation(ids)
        lengths = np.array([self.data.length(int(i)) for i in ids])
        if self.shuffle:  # sort within shuffled pools of 50 batches, then shuffle the batches
            pool = 50 * self.batch_size
            order = np.concatenate([start + np.argsort(lengths[start:start + pool], kind="stable")
                                    for start in range(0, len(ids), pool)])
        else:
            order = np.argsort(lengths, kind="stable")
        batches = [ids[order[k:k + self.batch_size]].tolist() for k in range(0, len(ids), self.batch_size)]
        if self.shuffle:
            batches = [batches[k] for k in rng.permutation(len(batches))]
        return iter(batches)


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


class Collate:
    """Pad a list of utterance ids into a batch (`speech_batch`)."""

    def __init__(self, data: Utterances, tokenizer):
        self.data, self.tokenizer = data, tokenizer

    def __call__(self, ids: list[int]) -> dict:
        items = [self.data.utterance(int(i)) for i in ids]
        return speech_batch([audio for audio, _, _ in items], [text for _, text, _ in items], self.tokenizer)


class _Identity(Dataset):
    """Lets the batch sampler's ids through to `Collate` untouched."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):
        return i


class SpeechData(ResumableData, L.LightningDataModule):
    """FSDD spoken digits as connected-digit (or isolated) utterances, with a tokenizer.

    Args:
        path: the folder of FSDD recordings, under the data root or absolute.
        task: ``connected`` (1-`max_digits` digits per utterance) or ``isolated``.
        test_speakers: hold these speakers out entirely (test); empty for FSDD's own split.
        units: ``chars``, ``words`` (the digit words) or ``sentencepiece`` (trained on the
            training transcripts only).
        vocab_size: sentencepiece vocabulary size.
        model_type: sentencepiece ``unigram`` or ``bpe``.
        batch_size: utterances per batch.
        train_utterances: utterances per training epoch (fresh ones every epoch).
        eval_utterances: fixed validation and test utterances (each).
        max_digits: longest connected utterance.
        noise: standard deviation of white noise added to connected utterances (0: none).
        speed_perturb: training recordings play at a random speed in [1 - p, 1 + p] (0: none).
        noise_snr: ``[low, high]``: white noise at a signal-to-noise ratio drawn from that range (dB)
            added to every training utterance; None: none.
        equalize: filter each speaker's recordings to the training speakers' average spectrum
            (`equalize_speakers`); a held-out speaker's own recordings give their statistics, and
            ``seqkit transcribe`` estimates them from the files it is given.
        sample_rate: the rate of the recordings and of the model.
        seed: seeds the utterance builder.
        tokenizer: a tokenizer saved by `to_data` (a checkpoint's) to use instead of fitting one.
    """

    def __init__(self, path: str = "fsdd/recordings", task: str = "connected", test_speakers: list[str] = (),
                 units: str = "chars", vocab_size: int = 32, model_type: str = "unigram", batch_size: int = 32,
                 train_utterances: int = 4000, eval_utterances: int = 500, max_digits: int = 7,
                 noise: float = 0.0, speed_perturb: float = 0.0, noise_snr: list[float] | None = None,
                 equalize: bool = False, sample_rate: int = 8000, seed: int = 0,
                 tokenizer: dict | None = None):
        super().__init__()
        folder = Path(path)
        folder = folder if folder.is_absolute() else locate_folder(path)
        self.batch_size, self.sample_rate, self.task = batch_size, sample_rate, task
        recordings = read_fsdd(folder, sample_rate)
        parts = split(recordings, list(test_speakers or []))  # checks the speakers' names first
        self.reference = None
        if equalize:
            trained = sorted({r.speaker for r in parts["train"]})
            recordings, self.reference = equalize_speakers(recordings, trained)
            parts = split(recordings, list(test_speakers or []))
        count = {"train": train_utterances, "val": eval_utterances, "test": eval_utterances}
        offsets = {"train": 0, "val": 1_000_000, "test": 2_000_000}  # distinct seeds per split
        self.splits = {name: Utterances(recs, count[name], seed + offsets[name], task, max_digits, sample_rate, noise,
                                        speed_perturb if name == "train" else 0.0,
                                        noise_snr if name == "train" else None)
                       for name, recs in parts.items()}
        train_texts = [self.splits["train"].transcript(i) for i in range(min(2000, len(self.splits["train"])))]
        if tokenizer is not None:
            self.tokenizer = tokenizer_from_data(tokenizer)
        elif units == "chars":
            self.tokenizer = CharTokenizer.fit(train_texts)
        elif units == "words":
            self.tokenizer = WordTokenizer.fit(train_texts)
        elif units == "sentencepiece":
            self.tokenizer = PieceTokenizer.fit(train_texts, vocab_size, model_type)
        else:
            raise SeqkitError(f"data.units must be chars, words or sentencepiece, got {units!r}")

    def write_transcripts(self, path: Path, epochs: int) -> Path:
        """Write the transcripts of the training utterances of `epochs` epochs, one per line
        (the text to train a language model for LM fusion on)."""
        data = self.splits["train"]
        count = len(data) * (epochs if self.task == "connected" else 1)
        path.write_text("".join(data.transcript(i) + "\n" for i in range(count)), encoding="utf-8")
        return path

    def mean_seconds(self, split: str, sample: int = 200) -> float:
        """Mean utterance duration of a split (from the first `sample` utterances' plans)."""
        data = self.splits[split]
        count = min(sample, len(data))
        return sum(data.length(i) for i in range(count)) / count / self.sample_rate

    @property
    def dims(self) -> dict:
        return {"in_dim": 1, "sample_rate": self.sample_rate, "vocab_size": self.tokenizer.vocab_size}

    @property
    def info(self) -> dict:
        info = {"tokenizer": self.tokenizer.to_data(), "sample_rate": self.sample_rate}
        if self.reference is not None:  # for transcribe to equalise new speakers the same way
            info["equalize_reference"] = [round(float(v), 5) for v in self.reference]
        return info

    def _loader(self, name: str, train: bool = False) -> DataLoader:
        data = self.splits[name]
        batches = Batches(data, self.batch_size, train, fresh=train)
        if train:  # training resumes exactly from a checkpoint, and shares batches between processes
            batches = self.resumable(batches)
        return DataLoader(_Identity(len(data)), batch_sampler=batches, collate_fn=Collate(data, self.tokenizer),
                          generator=torch.Generator() if train else None)  # see seqkit.data.resume

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def locate_folder(path: str) -> Path:
    """A data folder under the data root; a known one that is missing is downloaded as a verified
    archive and extracted safely (`seqkit.data.root.locate_folder`)."""
    return locate_known_folder(path)
