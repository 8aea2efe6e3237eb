"""Text: tokenizers (characters or sentencepiece pieces, stored in checkpoints as plain data) and
token streams for truncated backpropagation through time."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import lightning as L
import sentencepiece as spm
import torch
from torch.utils.data import DataLoader, Dataset

from seqkit.data.resume import ResumableData, share_rows
from seqkit.errors import SeqkitError

log = logging.getLogger("seqkit")


class CharTokenizer:
    """One unit per character of a fixed alphabet.

    Args:
        chars: the alphabet, in id order.

    Example:
        >>> tok = CharTokenizer.fit(["one two", "three"])
        >>> tok.decode(tok.encode("two one"))
        'two one'
    """

    kind = "chars"

    def __init__(self, chars: Iterable[str]):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, texts: Iterable[str]) -> CharTokenizer:
        return cls(sorted(set("".join(texts))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as err:
            raise SeqkitError(f"character {err.args[0]!r} is not in the model's alphabet "
                              f"({''.join(self.chars)!r})") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def encode_spans(self, text: str) -> tuple[list[int], list[int]]:
        """Ids and, for each, how many characters of `text` it stands for (always 1 here)."""
        ids = self.encode(text)
        return ids, [1] * len(ids)

    def to_data(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


class WordTokenizer:
    """One unit per word (split on whitespace) of a fixed vocabulary: a closed set of words, such
    as the ten digits, becomes ten units, for CTC over words or for classifying one word.

    Args:
        words: the vocabulary, in id order.

    Example:
        >>> tok = WordTokenizer.fit(["one two", "three one"])
        >>> tok.encode("two one"), tok.decode([2, 0])
        ([2, 0], 'two one')
    """

    kind = "words"

    def __init__(self, words: Iterable[str]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, texts: Iterable[str]) -> WordTokenizer:
        return cls(sorted({w for text in texts for w in text.split()}))

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[w] for w in text.split()]
        except KeyError as err:
            raise SeqkitError(f"word {err.args[0]!r} is not in the model's vocabulary "
                              f"({' '.join(self.words[:20])}{' ...' if len(self.words) > 20 else ''})") from None

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[i] for i in ids)

    def to_data(self) -> dict:
        return {"kind": self.kind, "words": self.words}


class PieceTokenizer:
    """Sentencepiece units (unigram or BPE), trained on the given texts only.

    Args:
        model: a serialised sentencepiece model.
    """

    kind = "sentencepiece"

    def __init__(self, model: bytes):
        self.model = bytes(model)
        self.processor = spm.SentencePieceProcessor(model_proto=self.model)

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int, model_type: str = "unigram",
            exact: bool = False) -> PieceTokenizer:
        """Train on `texts`. ``exact`` keeps the text as it is (no normalisation, every space and
        newline kept), so that decoding gives the original text back character for character."""
        if model_type not in ("unigram", "bpe"):
            raise SeqkitError(f"sentencepiece model_type must be unigram or bpe, got {model_type!r}")
        buffer = io.BytesIO()
        verbatim = {"normalization_rule_name": "identity", "remove_extra_whitespaces": False,
                    "add_dummy_prefix": False, "user_defined_symbols": ["\n"],
                    "allow_whitespace_only_pieces": True} if exact else {}
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(list(texts)), model_writer=buffer, vocab_size=vocab_size,
                model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
                bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2, num_threads=1, **verbatim,
            )
        except RuntimeError as err:
            raise SeqkitError(f"sentencepiece training failed: {' '.join(str(err).split())[:200]}") from None
        return cls(buffer.getvalue())

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.processor.decode(list(ids))

    def encode_spans(self, text: str) -> tuple[list[int], list[int]]:
        """Ids and, for each, how many characters of `text` it stands for (an unknown piece too).

        Exact for a tokenizer fit with ``exact=True``: there a piece's surface is the piece itself
        (``▁`` for a space), and sentencepiece merges a run of unknown characters into one unknown
        piece, which ends where the next piece's surface starts.
        """
        ids = self.encode(text)
        surfaces = [self.processor.id_to_piece(i).replace("\u2581", " ") for i in ids]
        unknown = self.processor.unk_id()
        spans, at = [], 0
        for k, i in enumerate(ids):
            if i == unknown:
                following = next((surfaces[j] for j in range(k + 1, len(ids)) if ids[j] != unknown), None)
                end = text.find(following, at + 1) if following else -1
                spans.append((end if end > at else len(text)) - at)
            else:
                spans.append(len(surfaces[k]))
            at += spans[-1]
        return ids, spans

    def to_data(self) -> dict:
        return {"kind": self.kind, "model": self.model}


def unit_texts(tokenizer) -> list[str]:
    """Each unit of `tokenizer` as text, by id (a CTC head's classes, a language model's units)."""
    return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]


def tokenizer_from_data(data: dict) -> CharTokenizer | PieceTokenizer:
    """Rebuild a tokenizer from what `to_data` stored in a checkpoint."""
    if data["kind"] == "chars":
        return CharTokenizer(data["chars"])
    if data["kind"] == "words":
        return WordTokenizer(data["words"])
    return PieceTokenizer(data["model"])


def read_text(path: str | Path) -> str:
    """The UTF-8 text of `path`; a missing, empty or non-UTF-8 file fails with a one-line error."""
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
    return text


class Streams(Dataset):
    """A token sequence cut into `batch_size` contiguous streams, read `bptt` tokens at a time.

    Item k is batch k: rows are the streams, and batch k+1 continues batch k in every row, so a
    recurrent state carried from one batch to the next has read the whole stream so far. The
    targets are the inputs shifted by one token. ``chars`` counts the characters of the original
    text that the batch's targets stand for, for bits per character.

    Args:
        ids: the token ids.
        batch_size: parallel streams.
        bptt: tokens per batch and stream (the last batch may be shorter).
        spans: characters per token (ones for characters).

    Example:
        >>> streams = Streams(list(range(21)), batch_size=2, bptt=4)
        >>> len(streams), streams[0]["inputs"].tolist(), streams[0]["targets"].tolist()
        (3, [[0, 1, 2, 3], [10, 11, 12, 13]], [[1, 2, 3, 4], [11, 12, 13, 14]])
        >>> streams[2]["inputs"].tolist()
        [[8, 9], [18, 19]]
    """

    def __init__(self, ids: list[int], batch_size: int, bptt: int, spans: list[int] | None = None):
        if batch_size < 1 or bptt < 1:
            raise SeqkitError(f"data.batch_size and data.bptt must be positive, got {batch_size} and {bptt}")
        steps = (len(ids) - 1) // batch_size  # tokens per stream
        if steps < 1:
            raise SeqkitError(f"{len(ids)} tokens cannot fill {batch_size} streams; lower data.batch_size")
        ids = torch.tensor(ids, dtype=torch.long)
        self.inputs = ids[: batch_size * steps].view(batch_size, steps)
        self.targets = ids[1: batch_size * steps + 1].view(batch_size, steps)
        spans = torch.ones(len(ids), dtype=torch.long) if spans is None else torch.tensor(spans)
        self.spans = spans[1: batch_size * steps + 1].view(batch_size, steps)
        self.bptt = bptt

    def __len__(self) -> int:
        return math.ceil(self.inputs.shape[1] / self.bptt)

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(k)
        window = slice(k * self.bptt, (k + 1) * self.bptt)
        inputs = self.inputs[:, window]
        return {"inputs": inputs, "input_lengths": torch.full((inputs.shape[0],), inputs.shape[1]),
                "targets": self.targets[:, window], "chars": int(self.spans[:, window].sum())}

    @property
    def tokens(self) -> int:
        return self.targets.numel()


class TextData(ResumableData, L.LightningDataModule):
    """A text corpus for language modelling: nanoGPT's split, a tokenizer, streams for TBPTT.

    The first `train_fraction` of the characters train, the rest validate (nanoGPT's 90/10 for
    Tiny Shakespeare). Characters take the alphabet of the whole text, as nanoGPT does;
    sentencepiece is trained on the training part only, kept verbatim (spaces and newlines), so
    that every character of the original text is counted for bits per character.

    Args:
        path: a UTF-8 text file (under the data root unless absolute).
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
        cut = int(len(text) * train_fraction)
        self.texts = {"train": text[:cut], "val": text[cut:]}
        if tokenizer is not None:
            self.tokenizer = tokenizer_from_data(tokenizer)
        elif units == "chars":
            self.tokenizer = CharTokenizer.fit([text])
        else:
            self.tokenizer = PieceTokenizer.fit(self.texts["train"].splitlines(), vocab_size, model_type, exact=True)
        self.streams = {}
        for split, part in self.texts.items():
            ids, spans = self.tokenizer.encode_spans(part)
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
        return {"tokenizer": self.tokenizer.to_data()}

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
