"""Text file inputs, property-based: any UTF-8 text reads back exactly; other bytes are refused naming the offset."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqkit.data.text import TextData, read_text
from seqkit.errors import SeqkitError

from helpers import FAST, one_line


@FAST
@given(text=st.text(min_size=1).filter(lambda t: "\x00" not in t))
@example(text="a")
def test_any_utf8_text_reads_back_exactly(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_bytes(text.encode("utf-8"))
        assert read_text(path, universal_newlines=False) == text
        assert read_text(path) == text.replace("\r\n", "\n").replace("\r", "\n")  # line ends made newlines


@FAST
@given(content=st.binary(max_size=300))
@example(content=b"")
@example(content=b"To be\x00or not")
@example(content="caf\xe9".encode("latin-1"))
def test_any_bytes_are_read_as_text_or_refused_with_the_offset(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_bytes(content)
        try:
            text = read_text(path)
        except SeqkitError as err:
            message = one_line(err, path)
            try:
                decoded = content.decode("utf-8")
            except UnicodeDecodeError as bad:
                assert f"not UTF-8 text: byte 0x{content[bad.start]:02x} at byte offset {bad.start}" in message
                assert message.endswith("convert the file to UTF-8")
            else:
                if not decoded:
                    assert "is empty" in message
                else:
                    assert f"a binary file, not text (NUL byte at byte offset {content.index(0)})" in message
        else:
            assert text == content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n") and text
            assert "\x00" not in text


@pytest.mark.parametrize("content, message", [
    (b"a", "shorter than one batch"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text: byte 0x89 at byte offset 0"),
    (b"plain text\x00\x00\x00 and zeros", "a binary file, not text (NUL byte at byte offset 10)"),
])
def test_text_data_refuses_one_character_and_binary_files(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(SeqkitError) as err:
        TextData(str(path), batch_size=2, bptt=4)
    one_line(err.value, path, message)
