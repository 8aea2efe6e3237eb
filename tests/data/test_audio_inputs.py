"""Audio inputs, property-based: valid files read, down-mixed and resampled; bad ones named (also by transcribe)."""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import assume, example, given
from hypothesis import strategies as st

from seqkit.data.audio import read_audio
from seqkit.data.fsdd import read_fsdd
from seqkit.errors import SeqkitError

from helpers import FAST, digest, one_line, run_cli

RATES = [8000, 11025, 16000, 22050, 44100, 48000, 44101]  # 44,101 Hz: an awkward ratio to 8 kHz
SUBTYPES = {"WAV": ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"], "FLAC": ["PCM_16", "PCM_24"]}


@FAST
@given(rate=st.sampled_from(RATES), channels=st.integers(1, 3),
       kind=st.sampled_from([(f, s) for f, subs in SUBTYPES.items() for s in subs]),
       seconds=st.floats(0.05, 0.4), tone=st.floats(100, 1000), gains=st.lists(st.floats(0.1, 0.9), min_size=3,
                                                                                  max_size=3))
def test_valid_audio_is_read_down_mixed_and_resampled(rate, channels, kind, seconds, tone, gains):
    audio_format, subtype = kind
    samples = int(seconds * rate)
    t = np.arange(samples) / rate
    signal = np.stack([g * np.sin(2 * np.pi * tone * t) for g in gains[:channels]], axis=1)  # (n, channels)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip.{audio_format.lower()}"
        sf.write(path, signal, rate, subtype=subtype, format=audio_format)
        audio = read_audio(path, 8000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == math.ceil(samples * 8000 / rate)
    # The mono mix is the channels' mean: a tone of the mean gain, whatever the rate was.
    expected = np.mean(gains[:channels]) * np.sin(2 * np.pi * tone * np.arange(len(audio)) / 8000)
    middle = slice(80, len(audio) - 80)  # 10 ms from each end: the resampling filter's edges
    np.testing.assert_allclose(audio[middle], expected[middle], atol=0.02)


def test_audio_at_the_models_rate_is_not_resampled(tmp_path):
    samples = np.random.default_rng(0).uniform(-1, 1, (400, 2))
    sf.write(tmp_path / "s.wav", samples, 8000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(tmp_path / "s.wav", 8000), samples.mean(1).astype(np.float32), atol=1e-7)


def wav_bytes(samples: int = 800, rate: int = 8000, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((samples, 1)), rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


BAD_AUDIO = {
    "empty": (lambda draw: b"", "empty file"),
    "truncated header": (lambda draw: wav_bytes()[: draw(st.integers(1, 35))], "not a readable audio file"),
    "no samples": (lambda draw: wav_bytes(0), "no audio samples"),
    "text named .wav": (lambda draw: draw(st.text(min_size=1)).encode("utf-8"), "not a readable audio file"),
    "not finite": (lambda draw: _nan_wav(), "audio holds NaN or infinite samples"),
}


def _nan_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.full((10, 1), np.nan), 8000, subtype="FLOAT", format="WAV")
    return buffer.getvalue()


@FAST
@given(case=st.sampled_from(sorted(BAD_AUDIO)), data=st.data())
def test_invalid_audio_gets_a_one_line_error_naming_the_file(case, data):
    make, message = BAD_AUDIO[case]
    content = make(data.draw)
    assume(case != "text named .wav" or content.strip())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digit.wav"
        path.write_bytes(content)
        with pytest.raises(SeqkitError) as err:
            read_audio(path, 8000)
    assert one_line(err.value).startswith(f"{path}: {message}")


@FAST
@given(content=st.binary(max_size=2000))
@example(content=b"RIFF\x24\x00\x00\x00WAVE")
@example(content=wav_bytes()[:44] + b"\x01")  # a header and half a sample
def test_arbitrary_bytes_are_read_or_refused_in_one_line(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.wav"
        path.write_bytes(content)
        try:
            audio = read_audio(path, 8000)
        except SeqkitError as err:
            assert one_line(err).startswith(str(path))
        else:
            assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all() and len(audio)


def test_a_wav_cut_inside_its_samples_reads_what_is_there(tmp_path):
    whole = wav_bytes(800)
    (tmp_path / "cut.wav").write_bytes(whole[:44 + 2 * 300])  # 300 of 800 16-bit samples
    assert len(read_audio(tmp_path / "cut.wav", 8000)) == 300


def test_bad_audio_inputs_are_named(tmp_path, data_root):
    from seqkit.data.audio import read_audio

    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio at all\n")
    good = (data_root / "fsdd/recordings/0_george_0.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:30])
    for name, message in [("missing.wav", "no such file"), ("empty.wav", "empty file"),
                          ("text.wav", "not a readable audio file"), ("cut.wav", "not a readable audio file")]:
        with pytest.raises(SeqkitError, match=f"{name}: {message}"):
            read_audio(tmp_path / name)
    with pytest.raises(SeqkitError, match="no recordings named"):
        read_fsdd(tmp_path)


def test_transcribe_reads_valid_files_names_bad_ones_and_changes_nothing(tiny_asr_run, data_root, tmp_path):
    before = digest(tiny_asr_run)
    audio, rate = sf.read(data_root / "fsdd/recordings/1_george_3.wav", dtype="float64")
    wide = np.interp(np.arange(len(audio) * 6) / 6, np.arange(len(audio)), audio)  # 48 kHz
    sf.write(tmp_path / "stereo48k24bit.wav", np.stack([wide, 0.5 * wide], axis=1), 48000, subtype="PCM_24")
    sf.write(tmp_path / "float.wav", audio, rate, subtype="FLOAT")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is a text file\n")
    (tmp_path / "cut.wav").write_bytes(wav_bytes()[:20])
    (tmp_path / "silent.wav").write_bytes(wav_bytes(0))
    (tmp_path / "folder.wav").mkdir()
    files = ["stereo48k24bit.wav", "empty.wav", "float.wav", "notes.wav", "cut.wav", "silent.wav", "missing.wav",
             "folder.wav"]
    code, out, err = run_cli("transcribe", tiny_asr_run, *[tmp_path / f for f in files])
    assert code == 1 and "Traceback" not in err
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(tmp_path / f) for f in files[::2][:2]]
    errors = err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in errors] == [str(tmp_path / f) for f in files if f not in
                                                             ("stereo48k24bit.wav", "float.wav")]
    assert all(line.startswith("error: ") for line in errors)
    assert digest(tiny_asr_run) == before
