"""SpeechData: the speech data module (connected or isolated words from FSDD's flat folder or from a
folder of one subfolder per class, Speech Commands' layout), its length-bucketed batches and their
padding."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from seqkit.data.audio import speech_batch
from seqkit.data.classes import LAYOUT, class_folders, read_classes
from seqkit.data.equalize import equalize_speakers
from seqkit.data.fsdd import NAME, Utterances, read_fsdd, split
from seqkit.data.resume import ResumableData
from seqkit.data.root import locate_folder
from seqkit.data.tokenizers import fit_tokenizer
from seqkit.errors import SeqkitError


def read_recordings(folder: Path, sample_rate: int, test_speakers: list[str] = (), validation: float = 10.0,
                    testing: float = 10.0):
    """The recordings of `folder` and the function that splits them (train, val, test).

    FSDD's flat folder (``{digit}_{speaker}_{index}.wav``, `seqkit.data.fsdd.split`, `test_speakers`
    held out) or a class folder (`seqkit.data.classes`: Speech Commands' split, `validation` and
    `testing` percent of the speakers, or its list files); the function splits the recordings (or
    their equalised copies, in the same order) the same way every time.
    """
    if not folder.is_dir() or any(NAME.match(p.name) for p in folder.iterdir()):
        return read_fsdd(folder, sample_rate), lambda recordings: split(recordings, list(test_speakers))
    if not class_folders(folder):
        raise SeqkitError(f"{folder}: no recordings named digit_speaker_index.wav (FSDD) and no class subfolders "
                          f"({LAYOUT}, Speech Commands); give a folder in one of these layouts")
    if test_speakers:
        raise SeqkitError(f"data.test_speakers holds FSDD speakers out; {folder} is a class folder, split by its "
                          f"speakers' hash or its validation_list.txt and testing_list.txt: leave it empty")
    parts = read_classes(folder, sample_rate, validation, testing)
    sizes = {name: len(part) for name, part in parts.items()}

    def regroup(recordings: list) -> dict:
        starts = np.cumsum([0, *sizes.values()])
        return {name: recordings[start:start + size] for (name, size), start in zip(sizes.items(), starts)}

    return [r for part in parts.values() for r in part], regroup


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
    """Recordings of one word each as connected-word (or isolated) utterances, with a tokenizer.

    Args:
        path: under the data root or absolute: FSDD's folder of ``{digit}_{speaker}_{index}.wav``
            recordings, or a folder of one subfolder of recordings per class (the subfolder's name
            is the word), Speech Commands' layout ``<class>/<speaker>_nohash_<n>.wav``
            (`seqkit.data.classes`); any rate, channels and format `read_audio` reads.
        digits: ``connected`` (1-`max_digits` words of one speaker per utterance) or ``isolated``.
        test_speakers: FSDD: hold these speakers out entirely (test); empty for FSDD's own split.
            A class folder refuses it (its split is by speaker already).
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
        sample_rate: the rate of the model; recordings at another rate are resampled to it.
        seed: seeds the utterance builder.
        validation_percentage: a class folder without list files: the percentage of speakers (by
            Speech Commands' hash) whose recordings are validation; FSDD ignores it.
        testing_percentage: the same for test.
        tokenizer: a tokenizer saved by `to_data` (a checkpoint's) to use instead of fitting one.
    """

    def __init__(self, path: str = "fsdd/recordings", digits: str = "connected", test_speakers: list[str] = (),
                 units: str = "chars", vocab_size: int = 32, model_type: str = "unigram", batch_size: int = 32,
                 train_utterances: int = 4000, eval_utterances: int = 500, max_digits: int = 7,
                 noise: float = 0.0, speed_perturb: float = 0.0, noise_snr: list[float] | None = None,
                 equalize: bool = False, sample_rate: int = 8000, seed: int = 0,
                 tokenizer: dict | None = None, validation_percentage: float = 10.0, testing_percentage: float = 10.0):
        super().__init__()
        folder = Path(path)
        folder = folder if folder.is_absolute() else locate_folder(path)
        self.batch_size, self.sample_rate, self.digits = batch_size, sample_rate, digits
        recordings, regroup = read_recordings(folder, sample_rate, list(test_speakers or []),
                                              validation_percentage, testing_percentage)
        parts = regroup(recordings)  # checks the speakers' names first
        self.reference = None
        if equalize:
            trained = sorted({r.speaker for r in parts["train"]})
            recordings, self.reference = equalize_speakers(recordings, trained)
            parts = regroup(recordings)
        count = {"train": train_utterances, "val": eval_utterances, "test": eval_utterances}
        offsets = {"train": 0, "val": 1_000_000, "test": 2_000_000}  # distinct seeds per split
        self.splits = {name: Utterances(recs, count[name], seed + offsets[name], digits, max_digits, sample_rate, noise,
                                        speed_perturb if name == "train" else 0.0,
                                        noise_snr if name == "train" else None)
                       for name, recs in parts.items()}
        train_texts = [self.splits["train"].transcript(i) for i in range(min(2000, len(self.splits["train"])))]
        seen = {w for text in train_texts for w in text.split()}  # a large class folder's first 2000 miss classes:
        train_texts += sorted({r.word for r in parts["train"]} - seen)  # each missing word once (FSDD: none)
        self.tokenizer = fit_tokenizer(units, train_texts, vocab_size, model_type, tokenizer)

    def write_transcripts(self, path: Path, epochs: int) -> Path:
        """Write the transcripts of the training utterances of `epochs` epochs, one per line
        (the text to train a language model for LM fusion on)."""
        data = self.splits["train"]
        count = len(data) * (epochs if self.digits == "connected" else 1)
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
        info = {"data_module": "SpeechData", "tokenizer": self.tokenizer.to_data(), "sample_rate": self.sample_rate}
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
