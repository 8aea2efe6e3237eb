"""Text corpora for language models: reading, nanoGPT's split, and token streams for truncated
backpropagation through time (the tokenizers are in `seqkit.data.tokenizers`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seqkit.data.resume import ResumableData, share_rows
from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer, tokenizer_from_data
from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")


def read_text(path: str | Path, universal_newlines: bool = True) -> str:
    """The UTF-8 text of `path`; a missing, empty or non-UTF-8 file fails with a one-line error.

    With `universal_newlines` (the default), Windows (CRLF) and old Mac (lone CR) line ends read as
    ``\\n``, so that a language model's corpus has one line end, not a ``\\r`` character of its
    alphabet before it; the byte offsets of errors count the file's bytes as they are.
    ``universal_newlines=False`` keeps every ``\\r``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "crlf.txt").write_bytes(b"one\\r\\ntwo\\rthree\\n")
        ...     read_text(Path(folder) / "crlf.txt")
        'one\\ntwo\\nthree\\n'
    """
    path = Path(path)
    if not path.is_file():
        raise SeqkitError(f"{path}: no such text file; set data.path to a UTF-8 text file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SeqkitError(f"{path}: not UTF-8 text: byte 0x{raw[err.start]:02x} at byte offset {err.start} "
                          f"({err.reason}); convert the file to UTF-8") from None
    if not text:
        raise SeqkitError(f"{path} is empty; point data.path at a text file with some text in it")
    if "\x00" in text:  # valid UTF-8, but a NUL byte means a binary file (an archive, a model ...)
        raise SeqkitError(f"{path}: a binary file, not text (NUL byte at byte offset {raw.index(0)}); "
                          f"point data.path at a UTF-8 text file")
    return text.replace("\r\n", "\n").replace("\r", "\n") if universal_newlines else text


def split_text(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """The training and validation parts of a corpus: its first `train_fraction` of the characters,
    and the rest (nanoGPT's 90/10 split of Tiny Shakespeare).

    Example:
        >>> split_text("abcdefghij", 0.9)
        ('abcdefghi', 'j')
    """
    cut = int(len(text) * train_fraction)
    return text[:cut], text[cut:]


class Streams(Dataset):
    """A token sequence cut into `batch_size` contiguous streams, read `bptt` tokens at a time.

    Item k is batch k: rows are the streams, and batch k+1 continues batch k in every row, so a
    recurrent state carried from one batch to the next has read the whole stream so far. The
    targets are the inputs shifted by one token. ``chars`` counts the characters of the original
    text that the batch's targets stand for, for bits per character.

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
        >>> streams[2]["inputs"].tolist()
        [[8, 9], [18, 19]]
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
        return math.ceil(self.inputs.shape[1] / self.bptt)

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(k)
        window = slice(k * self.bptt, (k + 1) * self.bptt)
        inputs = torch.from_numpy(self.inputs[:, window].astype(np.int64))  # a copy: this batch only
        chars = inputs.numel() if self.spans is None else int(self.spans[:, window].sum(dtype=np.int64))
        return {"inputs": inputs, "input_lengths": torch.full((inputs.shape[0],), inputs.shape[1]),
                "targets": torch.from_numpy(self.targets[:, window].astype(np.int64)), "chars": chars}

    @property
    def tokens(self) -> int:
        return self.targets.size


class TextData(ResumableData, L.LightningDataModule):
    """A text corpus for language modelling: nanoGPT's split, a tokenizer, streams for TBPTT.

    The first `train_fraction` of the characters train, the rest validate (nanoGPT's 90/10 for
    Tiny Shakespeare). Characters take the alphabet of the whole text, as nanoGPT does;
    sentencepiece is trained on the training part only, kept verbatim (spaces and newlines), so
    that every character of the original text is counted for bits per character.

    Args:
        path: a UTF-8 text file (under the data root unless absolute); its CRLF and CR line ends
            read as newlines (`read_text`).
        units: ``chars`` or ``sentencepiece``.
        vocab_size: sentencepiece only: pieces to learn.
        model_type: sentencepiece only: ``unigram`` or ``bpe``.
        batch_size: parallel streams per batch.
        bptt: tokens per stream and batch (truncated backpropagation through time).
        train_fraction: share of the text (from its start) that trains.
        tokenizer: a tokenizer saved by `to_data` (a checkpoint's) to use instead of fitting one.
    """

    def __init__(self, path: str | Path = "tinyshakespeare/input.txt", units: str = "chars",
                 vocab_size: int = 1024, model_type: str = "unigram", batch_size: int = 64, bptt: int = 128,
                 train_fraction: float = 0.9, tokenizer: dict | None = None):
        super().__init__()
        from seqkit.data.root import locate

        if units not in ("chars", "sentencepiece"):
            raise SeqkitError(f"data.units must be chars or sentencepiece, got {units!r}")
        if not 0.0 < train_fraction < 1.0:
            raise SeqkitError(f"data.train_fraction must be between 0 and 1, got {train_fraction}")
        self.path = locate(path)
        text = read_text(self.path)
        self.texts = dict(zip(("train", "val"), split_text(text, train_fraction)))
        if tokenizer is not None:
            self.tokenizer = tokenizer_from_data(tokenizer)
        elif units == "chars":
            self.tokenizer = CharTokenizer.fit([text])
        else:
            self.tokenizer = PieceTokenizer.fit(self.texts["train"].splitlines(), vocab_size, model_type, exact=True)
        del text  # the two parts hold it; the ids are a compact array (about 2 bytes per token)
        self.streams = {}
        for split, part in self.texts.items():
            ids, spans = self.tokenizer.encode_corpus(part)
            if len(ids) < batch_size * bptt + 1 and split == "train":
                raise SeqkitError(
                    f"{self.path}: the training text is {len(ids)} tokens, shorter than one batch "
                    f"(data.batch_size x data.bptt = {batch_size} x {bptt}); use a longer text or smaller batches")
            try:
                self.streams[split] = Streams(ids, batch_size, bptt, spans)
            except SeqkitError as err:
                raise SeqkitError(f"{self.path}: the {split} text is too short: {err}") from None
        log.info("text %s: %d train / %d val characters, %d %s units", self.path.name,
                 len(self.texts["train"]), len(self.texts["val"]), self.tokenizer.vocab_size, units)

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
        return DataLoader(streams, batch_size=None, sampler=self.resumable(range(len(streams)), batches=False),
                          collate_fn=share_rows, generator=torch.Generator())  # see seqkit.data.resume

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("val")
