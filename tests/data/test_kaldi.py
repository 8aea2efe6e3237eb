"""Kaldi data folders pointing at real AN4 and FSDD audio, their one-line refusals, and wav.scp commands never run."""

from __future__ import annotations

import os

import pytest

from seqkit.data.corpus import Utterance
from seqkit.data.kaldi import read_kaldi
from seqkit.errors import SeqkitError

from helpers import one_line


@pytest.fixture
def folder(data_root, tmp_path):
    """A Kaldi folder: two AN4 recordings by absolute path, one FSDD recording linked into it (relative)."""
    an4 = data_root / "an4" / "wav" / "an4_clstk" / "fash"
    kaldi = tmp_path / "data"
    (kaldi / "wav").mkdir(parents=True)
    os.symlink(data_root / "fsdd" / "recordings" / "3_lucas_1.wav", kaldi / "wav" / "3_lucas_1.wav")
    write(kaldi, "wav.scp", f"an251-fash-b {an4 / 'an251-fash-b.sph'}\nan253-fash-b {an4 / 'an253-fash-b.sph'}\n"
                            "3_lucas_1 wav/3_lucas_1.wav\n")
    write(kaldi, "text", "an251-fash-b YES\nan253-fash-b GO\n3_lucas_1 three\n")
    return kaldi


def write(folder, name, content):
    (folder / name).write_text(content)


def test_a_folder_without_segments_or_utt2spk_reads_whole_recordings(folder, data_root):
    an4 = data_root / "an4" / "wav" / "an4_clstk" / "fash"
    assert read_kaldi(folder) == [Utterance("an251-fash-b", an4 / "an251-fash-b.sph", "YES"),
                                  Utterance("an253-fash-b", an4 / "an253-fash-b.sph", "GO"),
                                  Utterance("3_lucas_1", folder / "wav" / "3_lucas_1.wav", "three")]


def test_a_folder_with_segments_and_utt2spk_reads_segments_with_speakers(folder, data_root):
    an4 = data_root / "an4" / "wav" / "an4_clstk" / "fash"
    write(folder, "text", "fash-1 YES\nlucas-1 three\nlucas-2  three  again \n")
    write(folder, "utt2spk", "fash-1 fash\nlucas-1 lucas\nlucas-2 lucas\n")
    write(folder, "segments", "fash-1 an251-fash-b 0.0 1.2\nlucas-1 3_lucas_1 0.05 0.3\nlucas-2 3_lucas_1 0.3 -1\n")
    assert read_kaldi(folder) == [
        Utterance("fash-1", an4 / "an251-fash-b.sph", "YES", "fash", 0.0, 1.2),
        Utterance("lucas-1", folder / "wav" / "3_lucas_1.wav", "three", "lucas", 0.05, 0.3),
        Utterance("lucas-2", folder / "wav" / "3_lucas_1.wav", "three again", "lucas", 0.3, None)]


@pytest.mark.parametrize("line", ["rec1 touch {marker} |", "rec1 sox {marker} -t wav - | ", "rec1 touch {marker}|"])
def test_a_pipe_in_wav_scp_is_refused_and_never_run(line, folder, tmp_path):
    marker = tmp_path / "ran"
    write(folder, "wav.scp", "3_lucas_1 wav/3_lucas_1.wav\n" + line.format(marker=marker) + "\n")
    with pytest.raises(SeqkitError) as err:
        read_kaldi(folder)
    one_line(err.value, folder / "wav.scp", "line 2", "convert the audio to files first")
    assert not marker.exists()


REFUSALS = {
    "text_without_recording": ("text", "an251-fash-b YES\nnobody HELLO\n", "text", 2, "no recording"),
    "empty_transcript": ("text", "an251-fash-b YES\nan253-fash-b\n", "text", 2, "transcript"),
    "repeated_utterance": ("text", "an251-fash-b YES\nan251-fash-b NO\n", "text", 2, "repeats line 1"),
    "repeated_recording": ("wav.scp", "a wav/3_lucas_1.wav\na wav/3_lucas_1.wav\n", "wav.scp", 2, "repeats line 1"),
    "scp_without_path": ("wav.scp", "a wav/3_lucas_1.wav\nb\n", "wav.scp", 2, "<path>"),
    "utt2spk_three_fields": ("utt2spk", "an251-fash-b fash extra\n", "utt2spk", 1, "3 fields, not 2"),
    "segment_unknown_recording": ("segments", "an251-fash-b an251-fash-b 0 1\nan253-fash-b nowhere 0 1\n",
                                  "segments", 2, "recording 'nowhere'"),
    "segment_not_in_text": ("segments", "an251-fash-b an251-fash-b 0 1\nextra an251-fash-b 1 2\n",
                            "segments", 2, "not in"),
    "text_without_segment": ("segments", "an251-fash-b an251-fash-b 0 1\nan253-fash-b an253-fash-b 0 1\n",
                             "text", 3, "no recording in"),
    "segment_bad_number": ("segments", "an251-fash-b an251-fash-b 0 one\n", "segments", 1, "'one'"),
    "segment_start_after_end": ("segments", "an251-fash-b an251-fash-b 2 1\n", "segments", 1, "0 <= start < end"),
    "segment_negative_start": ("segments", "an251-fash-b an251-fash-b -1 1\n", "segments", 1, "0 <= start < end"),
    "segment_short_line": ("segments", "an251-fash-b an251-fash-b 0\n", "segments", 1, "3 fields, not 4"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_folder_is_refused_in_one_line_naming_file_and_line(case, folder):
    name, content, culprit, line, fragment = REFUSALS[case]
    write(folder, name, content)
    with pytest.raises(SeqkitError) as err:
        read_kaldi(folder)
    one_line(err.value, folder / culprit, f"line {line}", fragment)


@pytest.mark.parametrize("name", ["wav.scp", "text"])
def test_a_missing_wav_scp_or_text_is_named(name, folder):
    (folder / name).unlink()
    with pytest.raises(SeqkitError) as err:
        read_kaldi(folder)
    one_line(err.value, folder, f"no {name}")


def test_missing_audio_is_counted_and_the_first_three_named_before_other_checks(folder):
    write(folder, "wav.scp", "r0 wav/3_lucas_1.wav\nr1 a.wav\nr2 b.wav\nr3 c.wav\nr4 d.wav\n")
    write(folder, "text", "nobody\n")  # would be refused too, but the audio comes first
    with pytest.raises(SeqkitError) as err:
        read_kaldi(folder)
    message = one_line(err.value, "4 of 5 audio files", folder / "wav.scp", "line 2 'a.wav'", "line 4 'c.wav'")
    assert "d.wav" not in message
