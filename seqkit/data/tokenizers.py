"""Tokenizers: characters, words or sentencepiece pieces, stored in checkpoints as plain data."""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
import sentencepiece as spm

from seqkit.data.textcorpus import encode_in_chunks, id_dtype, lines_of, word_vocabulary
from seqkit.errors import SeqkitError

CHUNK = 1 << 18  # characters of a corpus encoded at a time (`encode_corpus`)


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

    def encode_corpus(self, text: str) -> tuple[np.ndarray, None]:
        """`encode` into a compact array (`id_dtype`), `CHUNK` characters at a time (code points
        looked up with numpy), and no spans (one character per id).

        Example:
            >>> CharTokenizer("abc").encode_corpus("cab")[0].tolist()
            [2, 0, 1]
        """
        points = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        order = np.argsort(points)
        ordered = points[order]
        ids = np.empty(len(text), dtype=id_dtype(self.vocab_size))
        for at in range(0, len(text), CHUNK):
            chunk = np.frombuffer(text[at:at + CHUNK].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            where = np.minimum(np.searchsorted(ordered, chunk), len(ordered) - 1)
            unknown = np.flatnonzero(ordered[where] != chunk)
            if unknown.size:
                self.encode(chr(chunk[unknown[0]]))  # its one-line error
            ids[at:at + len(chunk)] = order[where]
        return ids, None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def encode_spans(self, text: str) -> tuple[list[int], list[int]]:
        """Ids and, for each, how many characters of `text` it stands for (always 1 here)."""
        ids = self.encode(text)
        return ids, [1] * len(ids)

    def to_data(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


class WordTokenizer:
    """One unit per word (split on whitespace): a closed vocabulary, such as the ten digits, for CTC
    over words or classifying one word (an unknown word is an error); or, with `unk` and `eos`, a
    language model's (`fit_corpus`): an unknown word reads as `unk`, a newline as `eos` and back.

    Args:
        words: the vocabulary, in id order.
        unk: the unit of every word outside the vocabulary (None: such a word is an error); added
            after `words` if they lack it.
        eos: the unit of a line end (None: a line end separates words as a space does); added
            after `words` if they lack it.

    Example:
        >>> tok = WordTokenizer.fit(["one two", "three one"])
        >>> tok.encode("two one"), tok.decode([2, 0])
        ([2, 0], 'two one')
        >>> lm = WordTokenizer.fit_corpus("a b a\\nb a\\n")
        >>> lm.words, lm.encode("a c\\nb"), lm.decode([0, 3, 2, 2, 1]), lm.unknown_words("a c d c")
        (['a', 'b', '<eos>', '<unk>'], [0, 3, 2, 1], 'a <unk>\\n\\nb', ['c', 'd'])
    """

    kind = "words"

    def __init__(self, words: Iterable[str], unk: str | None = None, eos: str | None = None):
        self.words, self.unk, self.eos = list(words), unk, eos
        self.words += [t for t in (unk, eos) if t is not None and t not in self.words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, texts: Iterable[str]) -> WordTokenizer:
        """A closed vocabulary: the words of `texts`, sorted."""
        return cls(sorted({w for text in texts for w in text.split()}))

    @classmethod
    def fit_corpus(cls, text: str, min_count: int = 1, max_size: int | None = None, unk: str = "<unk>",
                   eos: str = "<eos>") -> WordTokenizer:
        """A language model's vocabulary, fitted on its training `text` (`textcorpus.word_vocabulary`)."""
        return cls(word_vocabulary(text, min_count, max_size, unk, eos), unk, eos)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def word_ids(self, words: list[str]) -> list[int]:
        """The ids of `words` (`unk`'s for an unknown one; without `unk`, that is an error)."""
        if self.unk is not None:
            unk = self.index[self.unk]
            return [self.index.get(w, unk) for w in words]
        try:
            return [self.index[w] for w in words]
        except KeyError as err:
            raise SeqkitError(f"word {err.args[0]!r} is not in the model's vocabulary "
                              f"({' '.join(self.words[:20])}{' ...' if len(self.words) > 20 else ''})") from None

    def encode(self, text: str) -> list[int]:
        """The ids of `text`'s words; with `eos`, a newline is `eos`."""
        lines, eos = ([text], []) if self.eos is None else (text.split("\n"), [self.index[self.eos]])
        return [i for k, line in enumerate(lines) for i in (eos if k else []) + self.word_ids(line.split())]

    def encode_spans(self, text: str) -> tuple[list[int], list[int]]:
        """Ids and, for each, how many characters of `text` it stands for: every line's words, then
        `eos` (if set; a blank line gives `eos` alone). A word stands for its length + 1 (the space
        or newline after it); `eos` for 0 characters after words, 1 on a blank line (its newline).

        Example:
            >>> WordTokenizer(["a", "bb"], unk="<unk>", eos="<eos>").encode_spans("a bb\\n\\nccc a\\n")
            ([0, 1, 3, 3, 2, 0, 3], [2, 3, 0, 1, 4, 2, 0])
        """
        eos = None if self.eos is None else self.index[self.eos]
        ids, spans = [], []
        for line in lines_of(text):
            words = line.split()
            ids += self.word_ids(words) + ([] if eos is None else [eos])
            spans += [len(w) + 1 for w in words] + ([] if eos is None else [0 if words else 1])
        return ids, spans

    def encode_corpus(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """`encode_spans` into compact arrays (ids `id_dtype`, spans int32), a chunk of lines at a time."""
        return encode_in_chunks(self.encode_spans, text, CHUNK, self.vocab_size)

    def decode(self, ids: Iterable[int]) -> str:
        """The words, one space between two; `eos` as a newline, with no space around it."""
        out: list[str] = []
        for i in ids:
            word = self.words[i]
            out.append("\n" if word == self.eos else word if not out or out[-1] == "\n" else " " + word)
        return "".join(out)

    def unknown_words(self, text: str) -> list[str]:
        """The distinct words of `text` outside the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(w for w in text.split() if w not in self.index))

    def to_data(self) -> dict:
        specials = {k: v for k, v in (("unk", self.unk), ("eos", self.eos)) if v is not None}
        return {"kind": self.kind, "words": self.words, **specials}


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

    def encode_corpus(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """`encode_spans` into compact arrays (ids `id_dtype`, spans int32), a chunk of lines at a
        time (`line_chunks`): the same ids and spans, since no piece of an exact tokenizer crosses a
        line end (the newline is a piece of its own)."""
        return encode_in_chunks(self.encode_spans, text, CHUNK, self.vocab_size)

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


def line_start(tokenizer) -> str:
    """Where a language model's text starts when given no prompt: a newline, as the corpus's lines
    start after one, where the units spell it exactly (characters of a text with line ends,
    sentencepiece kept verbatim); else a space, the start of a word; ``""`` if neither is a unit.

    Example:
        >>> [line_start(CharTokenizer(chars)) for chars in ("\\nab", " ab", "ab")]
        ['\\n', ' ', '']
    """
    for start in ("\n", " "):
        try:
            ids = tokenizer.encode(start)
        except SeqkitError:  # a character outside the alphabet
            continue
        if ids and tokenizer.decode(ids) == start:  # not sentencepiece's unknown piece
            return start
    return ""


def tokenizer_from_data(data: dict) -> CharTokenizer | WordTokenizer | PieceTokenizer:
    """Rebuild a tokenizer from what `to_data` stored in a checkpoint."""
    if data["kind"] == "chars":
        return CharTokenizer(data["chars"])
    if data["kind"] == "words":
        return WordTokenizer(data["words"], data.get("unk"), data.get("eos"))
    return PieceTokenizer(data["model"])


def fit_tokenizer(units: str, texts: list[str], vocab_size: int = 32, model_type: str = "unigram",
                  saved: dict | None = None) -> CharTokenizer | WordTokenizer | PieceTokenizer:
    """A speech model's tokenizer: the `saved` one (a checkpoint's `to_data`), else one of `units`
    (``chars``, ``words`` or ``sentencepiece``) fitted on the training transcripts `texts`."""
    if saved is not None:
        return tokenizer_from_data(saved)
    if units == "chars":
        return CharTokenizer.fit(texts)
    if units == "words":
        return WordTokenizer.fit(texts)
    if units == "sentencepiece":
        return PieceTokenizer.fit(texts, vocab_size, model_type)
    raise SeqkitError(f"data.units must be chars, words or sentencepiece, got {units!r}")
