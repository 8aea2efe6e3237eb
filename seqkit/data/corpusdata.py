"""CorpusData: the speech data module for any transcribed corpus (AN4, a manifest, a Kaldi folder,
...): utterances read lazily, transcripts normalised, units fitted on the training transcripts,
speed-perturbed copies, batches bounded by audio seconds."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from seqkit.data.audio import read_audio, speech_batch, speed_perturb
from seqkit.data.buckets import DurationBatches
from seqkit.data.corpus import Utterance, normalize
from seqkit.data.resume import ResumableData
from seqkit.data.splits import read_splits
from seqkit.data.tokenizers import fit_tokenizer
from seqkit.errors import SeqkitError

SHOWN = 3  # unreadable audio files named in the refusal


def durations(utterances: list[Utterance]) -> list[float]:
    """Seconds of each utterance, from its audio file's header and its start and end; one line
    naming how many files cannot be read (or hold no audio) and the first few, before any training."""
    info, bad = {}, []
    for path in dict.fromkeys(u.audio for u in utterances):
        try:
            found = sf.info(str(path))
            if found.frames == 0 or path.stat().st_size == 0:
                raise ValueError("no audio samples")
            info[path] = found.frames / found.samplerate
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as err:
            bad.append(f"{path} ({' '.join(str(err).split())[:80]})")
    if bad:
        shown = "; ".join(bad[:SHOWN]) + (" ..." if len(bad) > SHOWN else "")
        raise SeqkitError(f"{len(bad)} audio file(s) cannot be read or hold no audio: {shown}; "
                          f"replace or drop them")
    seconds = []
    for u in utterances:
        end = info[u.audio] if u.end is None else u.end
        if u.start >= info[u.audio] or u.end is not None and u.end > info[u.audio] + 0.01:
            raise SeqkitError(f"utterance {u.id}: {u.start:g} to {end:g} s is outside {u.audio}, which lasts "
                              f"{info[u.audio]:.2f} s; fix its start and end")
        seconds.append(min(end, info[u.audio]) - u.start)
    return seconds


class Spoken(Dataset):
    """Utterances (each with a speed factor) as (audio, transcript) pairs, audio read when asked."""

    def __init__(self, utterances: list[Utterance], texts: list[str], seconds: list[float], sample_rate: int,
                 factors: list[float] = (1.0,), cache: bool = False):
        self.items = [(u, text, f) for f in factors for u, text in zip(utterances, texts)]
        self.seconds = [s / f for f in factors for s in seconds]
        self.sample_rate = sample_rate
        self.cache: dict[int, object] | None = {} if cache else None  # int16 audio by item

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple:
        utterance, text, factor = self.items[i]
        if self.cache is None or i not in self.cache:
            audio = read_audio(utterance.audio, self.sample_rate, utterance.start, utterance.end)
            audio = speed_perturb(audio, factor)
            if self.cache is None:
                return audio, text
            self.cache[i] = (np.clip(audio, -1, 1) * 32767).round().astype(np.int16)
        return self.cache[i].astype(np.float32) / 32767, text  # the first read too: a resumed run hears the same


def encodable(text: str, tokenizer) -> str:
    """`text` without the characters (or words) the tokenizer has no unit for: the loss target of
    a dev or test transcript, whose references for WER and CER stay whole (so such a character
    counts as an error).

    Example:
        >>> from seqkit.data.tokenizers import CharTokenizer
        >>> encodable("AB QX", CharTokenizer("ABQ "))
        'AB Q'
    """
    if tokenizer.kind == "chars":
        return "".join(c for c in text if c in tokenizer.index)
    if tokenizer.kind == "words":
        return " ".join(w for w in text.split() if w in tokenizer.index)
    return text  # sentencepiece has its unknown unit


class Collate:
    """Pad (audio, transcript) pairs into a batch (`speech_batch`); with `lenient`, units the
    tokenizer lacks are left out of the targets (never of the texts scored against)."""

    def __init__(self, tokenizer, lenient: bool = False):
        self.tokenizer, self.lenient = tokenizer, lenient

    def __call__(self, items: list[tuple]) -> dict:
        texts = [text for _, text in items]
        targets = [encodable(text, self.tokenizer) for text in texts] if self.lenient else texts
        return {**speech_batch([audio for audio, _ in items], targets, self.tokenizer), "texts": texts}


class CorpusData(ResumableData, L.LightningDataModule):
    """A transcribed speech corpus (`seqkit.data.splits.read_splits`) as a data module.

    Args:
        path: a corpus folder (AN4's, FSDD's, a Kaldi data folder) or a manifest, under the data
            root or as given (absolute, or relative to the working folder).
        train, dev, test: manifests (.tsv/.csv with a header, .jsonl) or Kaldi folders of each split.
        dev_split, test_split: a split not given, derived from the training utterances:
            ``{first: N}``, ``{speakers: [a, b]}`` or ``{fraction: F}`` (of the speakers).
        case: transcripts in ``upper``, ``lower`` or ``keep`` case (`seqkit.data.corpus.normalize`).
        punctuation: ``strip`` (all but letters, digits, apostrophes and spaces) or ``keep``.
        units: ``chars``, ``words`` or ``sentencepiece``, fitted on the training transcripts only.
        vocab_size, model_type: sentencepiece's vocabulary size and ``unigram`` or ``bpe``.
        max_seconds: padded audio seconds per batch (`DurationBatches`).
        batch_size: at most this many utterances per batch as well; None: the seconds alone.
        buckets: duration buckets that training utterances are shuffled within.
        speed_perturb: speed factors: every training utterance is trained on once at each (ESPnet's
            ``_sp`` recipes: ``[0.9, 1.0, 1.1]``); ``[1.0]``: none.
        sample_rate: the model's; every file is resampled to it.
        seed: seeds the batch order and a ``fraction`` split.
        cache: keep every utterance's audio in memory (16-bit) once read: later epochs read no file
            (two bytes a sample: AN4 with three speeds takes about 0.2 GB); false for a corpus
            larger than the memory.
        tokenizer: a tokenizer saved by `to_data` (a checkpoint's) instead of fitting one.
    """

    def __init__(self, path: str | None = "an4", train: str | None = None, dev: str | None = None,
                 test: str | None = None, dev_split=None, test_split=None, case: str = "keep",
                 punctuation: str = "keep", units: str = "chars", vocab_size: int = 32, model_type: str = "unigram",
                 max_seconds: float = 120.0, batch_size: int | None = None, buckets: int = 10,
                 speed_perturb: list[float] = (1.0,),
                 sample_rate: int = 16000, seed: int = 0, cache: bool = False, tokenizer: dict | None = None):
        super().__init__()
        factors = [float(f) for f in speed_perturb]
        if not factors or not all(0.5 <= f <= 2.0 for f in factors):
            raise SeqkitError(f"data.speed_perturb must list speed factors between 0.5 and 2, got {factors}")
        self.utterances = read_splits(path, train, dev, test, dev_split, test_split, seed)
        self.texts = {}
        for name, part in self.utterances.items():
            self.texts[name] = [normalize(u.text, case, punctuation) for u in part]
            empty = [u for u, text in zip(part, self.texts[name]) if not text]
            if empty:
                raise SeqkitError(f"utterance {empty[0].id} ({empty[0].audio}): its transcript {empty[0].text!r} is "
                                  f"empty after normalisation (data.case, data.punctuation); fix or drop it")
        self.seconds = {name: durations(part) for name, part in self.utterances.items()}
        self.batch_seconds, self.batch_size, self.buckets = max_seconds, batch_size, buckets
        self.seed, self.sample_rate = seed, sample_rate
        self.splits = {name: Spoken(part, self.texts[name], self.seconds[name], sample_rate,
                                    factors if name == "train" else (1.0,), cache)
                       for name, part in self.utterances.items()}
        for data in self.splits.values():  # refuse an utterance longer than the budget now
            DurationBatches(data.seconds, max_seconds, buckets, max_count=batch_size)
        self.tokenizer = fit_tokenizer(units, self.texts["train"], vocab_size, model_type, tokenizer)

    def write_transcripts(self, path: Path) -> Path:
        """Write the normalised training transcripts, one per line (the text of an LM to fuse)."""
        path.write_text("".join(text + "\n" for text in self.texts["train"]), encoding="utf-8")
        return path

    def epoch_seconds(self) -> float:
        """Seconds of audio in one training epoch (speed-perturbed copies included)."""
        return float(sum(self.splits["train"].seconds))

    @property
    def dims(self) -> dict:
        return {"in_dim": 1, "sample_rate": self.sample_rate, "vocab_size": self.tokenizer.vocab_size}

    @property
    def info(self) -> dict:
        return {"data_module": "CorpusData", "tokenizer": self.tokenizer.to_data(), "sample_rate": self.sample_rate}

    def loader(self, name: str, train: bool = False) -> DataLoader:
        data = self.splits[name]
        batches = DurationBatches(data.seconds, self.batch_seconds, self.buckets, shuffle=train, seed=self.seed,
                                  max_count=self.batch_size)
        if train:  # training resumes exactly from a checkpoint, and shares batches between processes
            batches = self.resumable(batches)
        return DataLoader(data, batch_sampler=batches, collate_fn=Collate(self.tokenizer, lenient=not train),
                          generator=torch.Generator() if train else None)  # see seqkit.data.resume

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("dev")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
