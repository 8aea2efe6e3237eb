"""`seqkit transcribe`'s inputs as a new user gives them: beams below 1, unreadable files, too short ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import seqkit as sk
from seqkit.data.audio import read_audio
from seqkit.errors import SeqkitError

from helpers import one_line, one_line_error, run_cli


@pytest.mark.parametrize("beam", ["0", "-3"])
def test_a_beam_below_1_is_refused(asr_run, data_root, beam):
    good = data_root / "fsdd/recordings/3_lucas_1.wav"
    result = run_cli("transcribe", asr_run, good, "--beam", beam)
    assert result.code == 2 and result.out == ""
    one_line_error(result.code, result.err, "--beam", f"got {beam}")
    with pytest.raises(SeqkitError) as err:
        sk.transcribe(asr_run, [good], beam=int(beam))
    one_line(err.value, "--beam")


def test_an_unreadable_file_is_told_what_libsndfile_reads(tmp_path):
    (tmp_path / "notes.wav").write_text("not audio at all\n")
    with pytest.raises(SeqkitError) as err:
        read_audio(tmp_path / "notes.wav")
    message = one_line(err.value, tmp_path / "notes.wav", "not a readable audio file", "WAV", "FLAC",
                       "soundfile.available_formats()")
    formats = sf.available_formats()
    for name, shown in [("OGG", "OGG"), ("MP3", "MP3"), ("NIST", "NIST SPHERE")]:
        assert (shown in message) == (name in formats), (name, message)
    assert len(message.rsplit("; ", 1)[1]) <= 120  # the advice is short


@pytest.mark.parametrize("audio_format, subtype", [("MP3", "MPEG_LAYER_III"), ("NIST", "PCM_16")])
def test_the_formats_named_are_read(tmp_path, audio_format, subtype):
    if audio_format not in sf.available_formats():
        pytest.skip(f"this libsndfile has no {audio_format}")
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    path = tmp_path / f"tone.{audio_format.lower()}"
    sf.write(path, tone, 8000, format=audio_format, subtype=subtype)
    audio = read_audio(path, 8000)
    assert audio.ndim == 1 and abs(len(audio) - 8000) < 2000 and np.abs(audio).max() > 0.1


def test_a_file_shorter_than_one_analysis_window_gets_a_warning(asr_run, data_root, tmp_path):
    model, info = sk.load_model(asr_run / "checkpoints/best.ckpt")
    rate, window = info["sample_rate"], model.frontend.n_fft  # 8000 Hz, 200 samples (25 ms)
    sf.write(tmp_path / "6ms.wav", np.zeros(int(0.006 * rate)), rate, subtype="PCM_16")
    sf.write(tmp_path / "6ms_48k.wav", np.zeros(288), 48000, subtype="PCM_16")  # 48 samples once resampled
    sf.write(tmp_path / "window.wav", np.zeros(window), rate, subtype="PCM_16")  # exactly one window: heard
    good = data_root / "fsdd/recordings/3_lucas_1.wav"
    files = [tmp_path / "6ms.wav", tmp_path / "6ms_48k.wav", tmp_path / "window.wav", good]
    results = sk.transcribe(asr_run, files)
    assert [("warning" in r) for r in results] == [True, True, False, False], results
    assert all("text" in r for r in results)
    for result in results[:2]:
        one_line(SeqkitError(result["warning"]), "6 ms", f"one {1000 * window / rate:.3g} ms analysis window")
    code, out, err = run_cli("transcribe", asr_run, *files, "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("warning") for line in lines] == [r.get("warning") for r in results]
