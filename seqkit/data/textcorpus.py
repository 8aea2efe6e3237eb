"""A language model's corpus: where its files are, reading them, the lines and words of its text.

A corpus is one file (which `split_text` splits 90/10), a folder holding its three splits' files,
or three files named one by one (`corpus_files`). Its text is encoded in chunks of whole lines
(`encode_in_chunks`), and a word vocabulary counts the words of the training text only
(`word_vocabulary`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from seqkit.data.root import data_root, locate, locate_folder
from seqkit.errors import SeqkitError

# The splits of a corpus and the names of their files in a folder: train.txt or <name>.train.txt ...
FILE_NAMES = {"train": "train", "val": "valid", "test": "test"}
LAYOUTS = "train.txt, valid.txt and test.txt, or <name>.train.txt, <name>.valid.txt and <name>.test.txt"


def read_text(path: str | Path, universal_newlines: bool = True, setting: str = "data.path") -> str:
    """The UTF-8 text of `path`; a missing, empty or non-UTF-8 file fails with a one-line error.

    With `universal_newlines` (the default), Windows (CRLF) and old Mac (lone CR) line ends read as
    ``\\n``, so that a language model's corpus has one line end, not a ``\\r`` character of its
    alphabet before it; the byte offsets of errors count the file's bytes as they are.
    ``universal_newlines=False`` keeps every ``\\r``. `setting` names the file in messages.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "crlf.txt").write_bytes(b"one\\r\\ntwo\\rthree\\n")
        ...     read_text(Path(folder) / "crlf.txt")
        'one\\ntwo\\nthree\\n'
    """
    path = Path(path)
    if not path.is_file():
        raise SeqkitError(f"{path}: no such text file; set {setting} to a UTF-8 text file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SeqkitError(f"{path}: not UTF-8 text: byte 0x{raw[err.start]:02x} at byte offset {err.start} "
                          f"({err.reason}); convert the file to UTF-8") from None
    if not text:
        raise SeqkitError(f"{path} is empty; point {setting} at a text file with some text in it")
    if "\x00" in text:  # valid UTF-8, but a NUL byte means a binary file (an archive, a model ...)
        raise SeqkitError(f"{path}: a binary file, not text (NUL byte at byte offset {raw.index(0)}); "
                          f"point {setting} at a UTF-8 text file")
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


def id_dtype(vocab_size: int) -> type:
    """The smallest signed integer type that holds ids below `vocab_size` (int16 up to 32768 units)."""
    return np.int16 if vocab_size <= 1 << 15 else np.int32


def lines_of(text: str) -> list[str]:
    """The lines of `text`, without their newlines; the last one ends at the text's end, with a
    newline or without.

    Example:
        >>> lines_of("a b\\n\\nc\\n"), lines_of("a\\nb"), lines_of("")
        (['a b', '', 'c'], ['a', 'b'], [])
    """
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def line_chunks(text: str, size: int) -> Iterator[str]:
    """`text` in pieces of about `size` characters, each ending just after a newline (the last one
    anywhere), so that a tokenizer whose units never cross a line end encodes them as the whole.

    Example:
        >>> list(line_chunks("ab\\ncd\\nef", 4))
        ['ab\\n', 'cd\\n', 'ef']
    """
    at = 0
    while at < len(text):
        end = text.rfind("\n", at, at + size) + 1 if at + size < len(text) else len(text)
        if end <= at:  # a line longer than `size`: up to its end
            end = text.find("\n", at + size) + 1 or len(text)
        yield text[at:end]
        at = end


def encode_in_chunks(encode_spans, text: str, size: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """What `encode_spans` (a text's ids and spans) gives for each of `text`'s chunks of whole lines
    (`line_chunks`), joined into compact arrays: ids `id_dtype`, spans int32."""
    ids, spans = [np.zeros(0, dtype=id_dtype(vocab_size))], [np.zeros(0, dtype=np.int32)]
    for chunk in line_chunks(text, size):
        part, part_spans = encode_spans(chunk)
        ids.append(np.array(part, dtype=id_dtype(vocab_size)))
        spans.append(np.array(part_spans, dtype=np.int32))
    return np.concatenate(ids), np.concatenate(spans)


def folder_files(folder: Path) -> dict[str, Path]:
    """The training, validation and test files of a corpus folder: ``train.txt``, ``valid.txt``
    and ``test.txt``, or ``<name>.train.txt`` ... (Penn Treebank's ``ptb.train.txt``); a missing
    file, or two files for one split, is a one-line error naming them."""
    files, missing = {}, []
    for split, name in FILE_NAMES.items():
        found = sorted(p for p in [folder / f"{name}.txt", *folder.glob(f"*.{name}.txt")] if p.is_file())
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise SeqkitError(f"{folder}: {len(found)} files for its {name} split ({names}); keep one, or name "
                              f"the files with data.train, data.val and data.test")
        if found:
            files[split] = found[0]
        else:
            missing.append(f"{name}.txt (or <name>.{name}.txt)")
    if missing:
        raise SeqkitError(f"{folder}: no {' and no '.join(missing)}; a corpus folder holds {LAYOUTS}; "
                          f"or name the files with data.train, data.val and data.test")
    return files


def corpus_files(path: str | Path, train: str | Path | None = None, val: str | Path | None = None,
                 test: str | Path | None = None) -> tuple[Path, dict[str, Path]]:
    """Where a corpus is, and the files of its splits (``train``, ``val``, ``test``).

    Args:
        path: one text file (then there are no split files: the caller splits its text), or a
            folder of three files (`folder_files`); under the data root unless absolute.
        train: the training file (then `path` is not read), with `val`; under the data root
            unless absolute.
        val: the validation file.
        test: the test file (None: the corpus has no test split).

    Returns:
        The file, the folder or the training file, and the split files by split.
    """
    named = {"train": train, "val": val, "test": test}
    if any(v is not None for v in named.values()):
        if train is None or val is None:
            given = " and ".join(f"data.{k}" for k, v in named.items() if v is not None)
            missing = " and ".join(f"data.{k}" for k in ("train", "val") if named[k] is None)
            raise SeqkitError(f"{given} set without {missing}: name the training and the validation file with "
                              f"data.train and data.val (data.test optional), or a corpus with data.path")
        files = {}
        for split, file in ((k, v) for k, v in named.items() if v is not None):
            try:
                files[split] = locate(file)
            except SeqkitError as err:
                raise SeqkitError(f"data.{split}: {err}") from None
        return files["train"], files
    given = Path(path).expanduser()
    if (given if given.is_absolute() else data_root()[0] / given).is_dir():
        folder = locate_folder(given)
        return folder, folder_files(folder)
    return locate(path), {}


def word_vocabulary(text: str, min_count: int = 1, max_size: int | None = None, unk: str = "<unk>",
                    eos: str = "<eos>") -> list[str]:
    """A language model's vocabulary from its training `text`: the words of its lines (split on
    whitespace) and `eos`, which ends every line, by descending count (ties: first appearance), as
    an adaptive softmax's cut-offs expect; `unk` is in it, counted as the words it stands for.

    Args:
        text: the training text.
        min_count: a word seen fewer times is left out (read as `unk`).
        max_size: at most this many units, `unk` and `eos` included (None: no limit).
        unk: the unit of the words left out (added if the text lacks it).
        eos: the unit that ends every line.

    Example:
        >>> word_vocabulary("b a b\\nc a b\\n"), word_vocabulary("b a b\\nc a b\\n", max_size=4)
        (['b', 'a', '<eos>', 'c', '<unk>'], ['b', 'a', '<eos>', '<unk>'])
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise SeqkitError(f"data.min_count must be an integer, 1 or more (words seen fewer times read as {unk}), "
                          f"got {min_count!r}")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
        raise SeqkitError(f"data.max_size must be a positive integer (units kept, {unk} and {eos} included) or "
                          f"null (no limit), got {max_size!r}")
    counts: Counter = Counter()
    for line in lines_of(text):
        counts.update(line.split())
        counts[eos] += 1
    first = {w: k for k, w in enumerate(counts)}  # order of first appearance
    specials = {unk, eos}
    words = sorted((w for w, n in counts.items() if n >= min_count and w not in specials), key=lambda w: -counts[w])
    if max_size is not None:
        words = words[:max(max_size - len(specials), 0)]
    if not words:
        top = max((n for w, n in counts.items() if w not in specials), default=0)
        raise SeqkitError(f"data.min_count={min_count} and data.max_size={max_size} leave no word but {unk} and {eos} "
                          f"(the training text has {len(counts) - len(specials & set(counts))} distinct words, the "
                          f"most frequent seen {top} times); lower data.min_count or raise data.max_size")
    kept = set(words)
    dropped = [w for w in counts if w not in kept and w not in specials]
    counts[unk] += sum(counts[w] for w in dropped)
    first[unk] = min(first.get(unk, len(first)), first[dropped[0]] if dropped else len(first))
    return sorted([*words, eos, unk], key=lambda w: (-counts[w], first[w]))
