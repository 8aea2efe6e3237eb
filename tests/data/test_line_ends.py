"""Text corpora with Windows (CRLF) or old Mac (CR) line ends read as newlines; error offsets count the file's bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqkit.data.text import TextData, read_text
from seqkit.errors import SeqkitError

from helpers import FAST, one_line

LINE_ENDS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


@FAST
@given(lines=st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
                                      min_size=1, max_size=20),
                      min_size=1, max_size=8),  # not empty: a CR then an LF is one CRLF
       ends=st.lists(st.sampled_from(sorted(LINE_ENDS)), min_size=8, max_size=8))
@example(lines=["ROMEO:", "Is the day so young?"], ends=["CRLF"] * 8)
def test_any_mix_of_line_ends_reads_as_newlines(lines, ends):
    text = "".join(line + LINE_ENDS[end] for line, end in zip(lines, ends))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_bytes(text.encode("utf-8"))
        assert read_text(path) == "".join(line + "\n" for line in lines)
        assert read_text(path, universal_newlines=False) == text  # kept as they are on request


def test_a_crlf_corpus_has_the_alphabet_of_the_same_text_with_newlines(tmp_path, shakespeare):
    text = shakespeare[:20_000]
    (tmp_path / "unix.txt").write_bytes(text.encode("utf-8"))
    (tmp_path / "windows.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    unix = TextData(str(tmp_path / "unix.txt"), batch_size=2, bptt=16)
    windows = TextData(str(tmp_path / "windows.txt"), batch_size=2, bptt=16)
    assert "\r" not in windows.tokenizer.chars
    assert windows.tokenizer.chars == unix.tokenizer.chars and windows.texts == unix.texts
    pieces = TextData(str(tmp_path / "windows.txt"), units="sentencepiece", vocab_size=100, batch_size=2, bptt=16)
    assert "\r" not in "".join(pieces.tokenizer.decode([i]) for i in range(pieces.tokenizer.vocab_size))


@pytest.mark.parametrize("content, message", [
    (b"ROMEO:\r\nIs the day\r\n so young\xff?", "not UTF-8 text: byte 0xff at byte offset 29"),
    (b"\r\r\r\n\xc3", "not UTF-8 text: byte 0xc3 at byte offset 4"),
    (b"ROMEO:\r\n\r\nJULIET:\x00\r\n", "a binary file, not text (NUL byte at byte offset 17)"),
])
def test_error_offsets_count_the_bytes_of_the_file_as_it_is(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(SeqkitError) as err:
        read_text(path)
    one_line(err.value, path, message)


def test_a_file_of_line_ends_only_is_not_empty(tmp_path):
    (tmp_path / "blank.txt").write_bytes(b"\r\n\r")
    assert read_text(tmp_path / "blank.txt") == "\n\n"
