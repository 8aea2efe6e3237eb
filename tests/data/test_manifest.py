"""Manifests (TSV, CSV, JSON lines) pointing at real AN4 and FSDD audio, and their one-line refusals."""

from __future__ import annotations

import json
import os

import pytest

from seqkit.data.audio import read_audio
from seqkit.data.corpus import Utterance
from seqkit.data.manifest import read_manifest
from seqkit.errors import SeqkitError

from helpers import one_line


@pytest.fixture
def files(data_root, tmp_path):
    """Two AN4 recordings (absolute paths) and one FSDD recording linked next to the manifest (relative)."""
    an4 = data_root / "an4" / "wav" / "an4_clstk" / "fash"
    (tmp_path / "audio").mkdir()
    os.symlink(data_root / "fsdd" / "recordings" / "3_lucas_1.wav", tmp_path / "audio" / "3_lucas_1.wav")
    return an4 / "an251-fash-b.sph", an4 / "an253-fash-b.sph", tmp_path / "audio" / "3_lucas_1.wav"


def test_a_tsv_manifest_reads_absolute_and_relative_paths(files, tmp_path):
    yes, go, three = files
    (tmp_path / "m.tsv").write_text("audio\ttext\tspeaker\tduration\n"
                                    f"{yes}\tYES\tfash\t1.5\n{go}\t GO \tfash\t\naudio/3_lucas_1.wav\tthree\tlucas\t\n")
    assert read_manifest(tmp_path / "m.tsv") == [
        Utterance("an251-fash-b", yes, "YES", "fash"), Utterance("an253-fash-b", go, "GO", "fash"),
        Utterance("3_lucas_1", three, "three", "lucas")]
    assert len(read_audio(three, 8000)) > 0  # the reader's paths are the real recordings


def test_a_jsonl_manifest_reads_segments_ids_and_speakers(files, tmp_path):
    yes, _, three = files
    rows = [{"audio": str(yes), "text": "YES", "id": "u1", "speaker": "fash"},
            {"audio": "audio/3_lucas_1.wav", "text": "three", "start": 0.1, "end": 0.4},
            {"audio": "audio/3_lucas_1.wav", "text": "three", "start": 0, "end": None}]
    (tmp_path / "m.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n\n")
    assert read_manifest(tmp_path / "m.jsonl") == [
        Utterance("u1", yes, "YES", "fash"), Utterance("3_lucas_1-0.1", three, "three", "", 0.1, 0.4),
        Utterance("3_lucas_1-0", three, "three", "", 0.0, None)]


def test_a_csv_manifest_makes_repeated_stems_unique(files, tmp_path, data_root):
    yes, _, _ = files
    (tmp_path / "an251-fash-b.sph").symlink_to(yes)
    (tmp_path / "m.csv").write_text(f'audio,text\n{yes},"YES"\nan251-fash-b.sph,YES\n')
    assert [u.id for u in read_manifest(tmp_path / "m.csv")] == ["an251-fash-b", "an251-fash-b-2"]


REFUSALS = {
    "no_audio_column": ("m.tsv", "path\ttext\n{yes}\tYES\n", 1, "columns: path, text"),
    "no_text_key": ("m.jsonl", '{{"audio": "{yes}", "words": "YES"}}\n', 1, "keys: audio, words"),
    "empty_transcript": ("m.tsv", "audio\ttext\n{yes}\tYES\n{yes}\t  \n", 3, "empty transcript"),
    "wrong_field_count": ("m.tsv", "audio\ttext\n{yes}\tYES\textra\n", 2, "3 fields"),
    "bad_json": ("m.jsonl", '{{"audio": "{yes}", "text": "YES"}}\n{{"audio": \n', 2, "not JSON"),
    "not_an_object": ("m.jsonl", '["{yes}", "YES"]\n', 1, "not an object"),
    "bad_start": ("m.tsv", "audio\ttext\tstart\n{yes}\tYES\tsoon\n", 2, "column start: 'soon'"),
    "bad_duration": ("m.csv", "audio,text,duration\n{yes},YES,nan\n", 2, "column duration"),
    "zero_duration": ("m.csv", "audio,text,duration\n{yes},YES,0\n", 2, "must be > 0"),
    "start_after_end": ("m.tsv", "audio\ttext\tstart\tend\n{yes}\tYES\t2\t1\n", 2, "0 <= start < end"),
    "negative_start": ("m.tsv", "audio\ttext\tstart\n{yes}\tYES\t-1\n", 2, "negative"),
    "repeated_id": ("m.csv", "id,audio,text\na,{yes},YES\nb,{yes},NO\na,{yes},GO\n", 4, "repeats line 2"),
    "empty_audio": ("m.tsv", "audio\ttext\n\tYES\n", 2, "column audio: empty"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_manifest_is_refused_in_one_line_naming_file_and_line(case, files, tmp_path):
    name, content, line, fragment = REFUSALS[case]
    (tmp_path / name).write_text(content.format(yes=files[0]))
    with pytest.raises(SeqkitError) as err:
        read_manifest(tmp_path / name)
    one_line(err.value, tmp_path / name, f"line {line}", fragment)


@pytest.mark.parametrize("content", ["", "audio\ttext\n", "audio\ttext\n\n\n"])
def test_an_empty_manifest_is_refused(content, tmp_path):
    (tmp_path / "m.tsv").write_text(content)
    with pytest.raises(SeqkitError) as err:
        read_manifest(tmp_path / "m.tsv")
    one_line(err.value, tmp_path / "m.tsv", "no utterances" if content else "line 1")


def test_an_unknown_suffix_is_refused(tmp_path):
    (tmp_path / "m.txt").write_text("audio\ttext\n")
    with pytest.raises(SeqkitError) as err:
        read_manifest(tmp_path / "m.txt")
    one_line(err.value, tmp_path / "m.txt", ".tsv")


def test_missing_audio_is_counted_and_the_first_three_named_before_other_checks(files, tmp_path):
    yes, _, _ = files
    rows = [f"{yes}\tYES", "a.wav\tA", "b.wav\t", "a.wav\tA", "c.wav\tC", "d.wav\tD"]  # line 4: empty text
    (tmp_path / "m.tsv").write_text("audio\ttext\n" + "\n".join(rows) + "\n")
    with pytest.raises(SeqkitError) as err:
        read_manifest(tmp_path / "m.tsv")
    message = one_line(err.value, "4 of 5 audio files", tmp_path / "m.tsv", "line 3 'a.wav'", "line 4 'b.wav'",
                       "line 6 'c.wav'", tmp_path)
    assert "d.wav" not in message and "empty transcript" not in message
