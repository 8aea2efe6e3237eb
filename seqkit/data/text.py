"""Tokenizers: characters or sentencepiece pieces, stored in checkpoints as plain data."""

from __future__ import annotations

import io
from collections.abc import Iterable

import sentencepiece as spm

from seqkit.errors import SeqkitError


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

    def to_data(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


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
    def fit(cls, texts: Iterable[str], vocab_size: int, model_type: str = "unigram") -> PieceTokenizer:
        if model_type not in ("unigram", "bpe"):
            raise SeqkitError(f"sentencepiece model_type must be unigram or bpe, got {model_type!r}")
        buffer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(list(texts)), model_writer=buffer, vocab_size=vocab_size,
                model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
                bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2, num_threads=1,
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

    def to_data(self) -> dict:
        return {"kind": self.kind, "model": self.model}


def tokenizer_from_data(data: dict) -> CharTokenizer | PieceTokenizer:
    """Rebuild a tokenizer from what `to_data` stored in a checkpoint."""
    if data["kind"] == "chars":
        return CharTokenizer(data["chars"])
    return PieceTokenizer(data["model"])
