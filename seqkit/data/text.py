"""Text corpora for language models: token streams for truncated backpropagation through time,
read in windows of fixed or varying length, and the data module (reading a corpus, one file or a
file a split: `seqkit.data.textcorpus`; the tokenizers: `seqkit.data.tokenizers`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from seqkit.data.resume import ResumableData, share_rows
from seqkit.data.textcorpus import corpus_files, read_text, split_text  # the last two: also imported from here
from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer, WordTokenizer, tokenizer_from_data
from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")


class Streams(Dataset):
    """A token sequence cut into `batch_size` contiguous streams, read `bptt` tokens at a time.

    Item k is batch k: rows are the streams, and batch k+1 continues batch k in every row, so a
    recurrent state carried from one batch to the next has read the whole stream so far. The
    targets are the inputs shifted by one token. ``chars`` counts the characters of the original
    text that the batch's targets stand for, for bits per character. An item may also be a window
    ``(start, stop)`` of positions in the streams (`VariableWindows`' batches).

    The ids stay in the compact array they come in (numpy, a few bytes per token; a list is
    converted once): the streams are views of it, and only a batch becomes int64 tensors.

    Args:
        ids: the token ids (a list or a numpy integer array).
        batch_size: parallel streams.
        bptt: tokens per batch and stream (the last batch may be shorter).
        spans: characters per token (None: one each, as for characters).

    Example:
        >>> streams = Streams(list(range(21)), batch_size=2, bptt=4)
        >>> len(streams), streams[0]["inputs"].tolist(), streams[0]["targets"].tolist()
        (3, [[0, 1, 2, 3], [10, 11, 12, 13]], [[1, 2, 3, 4], [11, 12, 13, 14]])
        >>> streams[2]["inputs"].tolist(), streams[(3, 5)]["inputs"].tolist()
        ([[8, 9], [18, 19]], [[3, 4], [13, 14]])
    """

    def __init__(self, ids, batch_size: int, bptt: int, spans=None):
        if batch_size < 1 or bptt < 1:
            raise SeqkitError(f"data.batch_size and data.bptt must be positive, got {batch_size} and {bptt}")
        steps = (len(ids) - 1) // batch_size  # tokens per stream
        if steps < 1:
            raise SeqkitError(f"{len(ids)} tokens cannot fill {batch_size} streams; lower data.batch_size")
        ids = np.asarray(ids)
        self.inputs = ids[: batch_size * steps].reshape(batch_size, steps)  # views, no copies
        self.targets = ids[1: batch_size * steps + 1].reshape(batch_size, steps)
        self.spans = None if spans is None else np.asarray(spans)[1: batch_size * steps + 1].reshape(batch_size, steps)
        self.bptt = bptt

    def __len__(self) -> int:
        return math.ceil(self.steps / self.bptt)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        if isinstance(item, tuple):
            start, stop = item
        elif 0 <= item < len(self):
            start, stop = item * self.bptt, min((item + 1) * self.bptt, self.steps)
        else:
            raise IndexError(item)
        if not 0 <= start < stop <= self.steps:
            raise IndexError(item)
        window = slice(start, stop)
        inputs = torch.from_numpy(self.inputs[:, window].astype(np.int64))  # a copy: this batch only
        chars = inputs.numel() if self.spans is None else int(self.spans[:, window].sum(dtype=np.int64))
        return {"inputs": inputs, "input_lengths": torch.full((inputs.shape[0],), inputs.shape[1]),
                "targets": torch.from_numpy(self.targets[:, window].astype(np.int64)), "chars": chars}

    @property
    def steps(self) -> int:
        """Tokens per stream."""
        return self.inputs.shape[1]

    @property
    def tokens(self) -> int:
        return self.targets.size


class VariableWindows(Sampler):
    """Training windows of varying length over streams of `steps` tokens (AWD-LSTM's variable BPTT,
    Merity et al. 2017): `count` windows ``(start, stop)`` that cover the streams once, in order.

    Each length is drawn as AWD-LSTM draws it: `bptt` with probability 0.95, else `bptt` / 2, then
    from a normal distribution around that with deviation 5, kept within [min(5, bptt), bptt + 15].
    The `count` lengths are then rescaled to add up to `steps`: each window is 1 token plus its
    share (by drawn length) of the other ``steps - count`` tokens, so that the number of batches is
    `count` in every epoch (with `count` the number of fixed windows, a window is about 1/0.975 of
    its drawn length). The cuts come from (`seed`, epoch) only (Lightning calls ``set_epoch``), so a
    run resumed mid-epoch (`seqkit.data.resume.Resumable`) reads the same windows.

    Args:
        steps: tokens per stream.
        count: windows per epoch.
        bptt: the usual window length.
        seed: with the epoch, decides every length.

    Example:
        >>> windows = VariableWindows(steps=1000, count=10, bptt=100, seed=0)
        >>> cuts = list(windows)
        >>> len(cuts), cuts[0][0], cuts[-1][1], all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
        (10, 0, 1000, True)
    """

    def __init__(self, steps: int, count: int, bptt: int, seed: int = 0):
        if not 1 <= count <= steps:
            raise SeqkitError(f"{count} windows cannot cut streams of {steps} tokens; lower data.bptt")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SeqkitError(f"data.seed must be an integer, 0 or more, got {seed!r}")
        self.steps, self.count, self.bptt, self.seed, self.epoch = steps, count, bptt, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.count

    def cuts(self) -> np.ndarray:
        """The `count` + 1 window borders of this epoch, from 0 to `steps`."""
        rng = np.random.default_rng((self.seed, self.epoch))
        base = np.where(rng.random(self.count) < 0.95, self.bptt, self.bptt / 2)
        lengths = np.clip(rng.normal(base, 5.0), min(5, self.bptt), self.bptt + 15)
        share = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()  # 0 ... 1
        return np.arange(self.count + 1) + np.rint(share * (self.steps - self.count)).astype(np.int64)

    def __iter__(self):
        cuts = self.cuts().tolist()
        yield from zip(cuts[:-1], cuts[1:])


class TextData(ResumableData, L.LightningDataModule):
    """A text corpus for language modelling: its splits, a tokenizer, streams for TBPTT.

    One file: the first `train_fraction` of the characters train, the rest validate (nanoGPT's
    90/10 for Tiny Shakespeare), and there is no test split (`test_dataloader` reads the
    validation one). A folder, or `train` / `val` / `test`: a file a split (Penn Treebank's). The
    tokenizer is fitted on the training text only: words (`WordTokenizer.fit_corpus`: ``<eos>``
    ending every line, ``<unk>`` for the rest, Mikolov's protocol for Penn Treebank) and
    sentencepiece (kept verbatim, spaces and newlines, so that every character of the original text
    is counted for bits per character); characters take the alphabet of the whole text of one file,
    as nanoGPT does, or of the training file.

    Args:
        path: a UTF-8 text file, or a folder of ``train.txt``, ``valid.txt`` and ``test.txt`` (or
            ``<name>.train.txt`` ...: `seqkit.data.textcorpus.folder_files`); under the data root
            unless absolute; CRLF and CR line ends read as newlines (`read_text`).
        units: ``chars``, ``words`` or ``sentencepiece``.
        vocab_size: sentencepiece only: pieces to learn.
        model_type: sentencepiece only: ``unigram`` or ``bpe``.
        batch_size: parallel streams per training batch.
        bptt: tokens per stream and batch (truncated backpropagation through time).
        train_fraction: one file only: share of the text (from its start) that trains.
        tokenizer: a tokenizer saved by `to_data` (a checkpoint's) to use instead of fitting one.
        train: the training file (instead of `path`), with `val`; under the data root unless absolute.
        val: the validation file.
        test: the test file (None: no test split).
        min_count: words only: a word seen fewer times in the training text reads as ``<unk>``.
        max_size: words only: at most this many words, ``<unk>`` and ``<eos>`` included (None: all).
        eval_batch_size: streams of the validation and test splits (None: `batch_size`).
        variable_bptt: training windows of varying length around `bptt` (`VariableWindows`);
            validation and test windows stay `bptt` long.
        seed: with the epoch, seeds the variable windows.
    """

    def __init__(self, path: str | Path = "tinyshakespeare/input.txt", units: str = "chars",
                 vocab_size: int = 1024, model_type: str = "unigram", batch_size: int = 64, bptt: int = 128,
                 train_fraction: float = 0.9, tokenizer: dict | None = None, train: str | Path | None = None,
                 val: str | Path | None = None, test: str | Path | None = None, min_count: int = 1,
                 max_size: int | None = None, eval_batch_size: int | None = None, variable_bptt: bool = False,
                 seed: int = 0):
        super().__init__()
        if units not in ("chars", "words", "sentencepiece"):
            raise SeqkitError(f"data.units must be chars, words or sentencepiece, got {units!r}")
        if not 0.0 < train_fraction < 1.0:
            raise SeqkitError(f"data.train_fraction must be between 0 and 1, got {train_fraction}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise SeqkitError(f"data.eval_batch_size must be positive, or null (as data.batch_size), "
                              f"got {eval_batch_size}")
        self.path, self.files = corpus_files(path, train, val, test)
        if self.files:  # a file a split
            self.texts = {split: self.read_split(split, file) for split, file in self.files.items()}
            alphabet = self.texts["train"]
        else:
            alphabet = read_text(self.path)
            self.texts = dict(zip(("train", "val"), split_text(alphabet, train_fraction)))
        if tokenizer is not None:
            self.tokenizer = tokenizer_from_data(tokenizer)
        elif units == "chars":
            self.tokenizer = CharTokenizer.fit([alphabet])
        elif units == "words":
            self.tokenizer = WordTokenizer.fit_corpus(self.texts["train"], min_count, max_size)
        else:
            self.tokenizer = PieceTokenizer.fit(self.texts["train"].splitlines(), vocab_size, model_type, exact=True)
        del alphabet  # the parts hold the text; the ids are a compact array (about 2 bytes per token)
        self.bptt, self.variable_bptt, self.seed = bptt, variable_bptt, seed
        self.eval_batch_size = eval_batch_size or batch_size
        self.streams = {split: self.make_streams(split, batch_size if split == "train" else self.eval_batch_size)
                        for split in self.texts}
        log.info("text %s: %s characters, %d %s units", self.path.name,
                 " / ".join(f"{len(t)} {s}" for s, t in self.texts.items()), self.tokenizer.vocab_size, units)

    def read_split(self, split: str, file: Path) -> str:
        """The text of a split's own file; one of only whitespace is an error naming it."""
        text = read_text(file, setting="data.path" if self.path.is_dir() else f"data.{split}")
        if not text.strip():
            raise SeqkitError(f"{file}: the {split} split has no text, only whitespace; "
                              f"put the {split} text in it, or name another file with data.{split}")
        return text

    def make_streams(self, split: str, batch_size: int) -> Streams:
        """The split's ids as `batch_size` streams; a text too short for them is an error naming its file."""
        source = self.files.get(split, self.path)
        try:
            ids, spans = self.tokenizer.encode_corpus(self.texts[split])
        except SeqkitError as err:
            raise SeqkitError(f"{source}: {err}") from None
        if split == "train" and len(ids) < batch_size * self.bptt + 1:
            raise SeqkitError(
                f"{source}: the training text is {len(ids)} tokens, shorter than one batch "
                f"(data.batch_size x data.bptt = {batch_size} x {self.bptt}); use a longer text or smaller batches")
        try:
            return Streams(ids, batch_size, self.bptt, spans)
        except SeqkitError as err:
            raise SeqkitError(f"{source}: the {split} text is too short: {err}") from None

    @property
    def dims(self) -> dict:
        return {"in_dim": self.tokenizer.vocab_size, "vocab_size": self.tokenizer.vocab_size}

    @property
    def info(self) -> dict:
        return {"data_module": "TextData", "tokenizer": self.tokenizer.to_data()}

    def _loader(self, split: str) -> DataLoader:
        # Each item is already a batch, and the order is the streams' order: never shuffle.
        return DataLoader(self.streams[split], batch_size=None, shuffle=False)

    def train_dataloader(self) -> DataLoader:
        # In order, from a checkpoint's position on resume; each process takes its share of the streams.
        streams = self.streams["train"]
        windows = (VariableWindows(streams.steps, len(streams), self.bptt, self.seed) if self.variable_bptt
                   else range(len(streams)))
        return DataLoader(streams, batch_size=None, sampler=self.resumable(windows, batches=False),
                          collate_fn=share_rows, generator=torch.Generator())  # see seqkit.data.resume

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.streams else "val")
