"""Hardened inputs: property-based tests (hypothesis) of every parser a user's file or setting
reaches: CSV series (training and ``seqkit predict --csv``), audio (``read_audio``, ``seqkit
transcribe``), text (``read_text``), configs and command-line arguments.

Valid inputs must be read exactly; invalid ones must end in one line naming the file, field or
value and how to fix it, a non-zero exit from the command line, no traceback, and no change to an
existing run directory (its files are hashed before and after every failing command).
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from seqkit.config import load_config
from seqkit.data.audio import read_audio
from seqkit.data.series import SeriesData, read_csv
from seqkit.data.text import TextData, read_text
from seqkit.errors import SeqkitError

from .test_ltsf import digest
from .test_ltsf import run_cli as seqkit  # ``seqkit ARGS`` in this process: (exit code, stdout, stderr)

ROOT = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
DATE = "%Y-%m-%d %H:%M:%S"


def one_line_error(code: int, err: str, *names: object) -> str:
    """Assert a failing command's output: non-zero, one ``error:`` line naming `names`, no traceback."""
    assert code != 0, err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for name in names:
        assert str(name) in err, (name, err)
    return err.strip()


def one_line(err: SeqkitError, *names: object) -> str:
    message = str(err)
    assert "\n" not in message and message, message
    for name in names:
        assert str(name) in message, (name, message)
    return message


# ---------------------------------------------------------------------------------------------
# Runs to protect: a tiny forecasting run and a tiny speech run, each made once per module.

@pytest.fixture(scope="module")
def ltsf_run(tmp_path_factory, data_root) -> Path:
    run_dir = tmp_path_factory.mktemp("inputs") / "ltsf"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = seqkit("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", "data.seq_len=96",
                              "data.pred_len=24", "model.frontend.dim=16", "model.backend.hidden=16",
                              "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
                              "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
                              f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir


@pytest.fixture(scope="module")
def asr_run(tmp_path_factory, data_root) -> Path:
    """A speech run trained on 24 recordings copied from FSDD (two digits of one speaker)."""
    base = tmp_path_factory.mktemp("inputs")
    recordings = base / "recordings"
    recordings.mkdir()
    for digit in (0, 1):
        for index in range(12):  # 0-4 test, 5-9 validation, 10-11 training
            name = f"{digit}_george_{index}.wav"
            shutil.copy(data_root / "fsdd" / "recordings" / name, recordings / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = seqkit("run", ROOT / "recipes/asr", "-c", ROOT / "configs/debug.yaml",
                              f"data.path={recordings}", "data.train_utterances=8", "data.eval_utterances=4",
                              "data.batch_size=4", "model.frontend.dim=16", "model.frontend.filters=4",
                              "model.backend.hidden=16", "model.backend.layers=1", "trainer.limit_train_batches=1",
                              "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                              "trainer.enable_progress_bar=false", f"run_dir={base / 'asr'}")
    assert code == 0, err
    return base / "asr"


# ---------------------------------------------------------------------------------------------
# CSV series

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True).filter(lambda n: n != "date")
FINITE = st.floats(allow_nan=False, allow_infinity=False)
NOT_NUMBERS = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "", "   ", "1e999", "--1", "0x1F", "1.2.3", "n/a",
                     "NULL", "1 2", "€5"]),
    st.from_regex(r"[A-Za-z][A-Za-z ]{0,6}", fullmatch=True),
)


@st.composite
def tables(draw, min_rows: int = 1, max_rows: int = 25) -> tuple[list[str], list[str], list[list[float]]]:
    """Column names, strictly increasing dates (as text) and finite values of a valid series CSV."""
    columns = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    rows = draw(st.integers(min_rows, max_rows))
    start = draw(st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1))).replace(microsecond=0)
    gaps = draw(st.lists(st.integers(1, 100_000), min_size=rows, max_size=rows))  # seconds
    dates = [(start + timedelta(seconds=sum(gaps[:k]))).strftime(DATE) for k in range(rows)]
    values = draw(st.lists(st.lists(FINITE, min_size=len(columns), max_size=len(columns)),
                           min_size=rows, max_size=rows))
    return columns, dates, values


def write_csv(path: Path, columns: list[str], dates: list[str], values: list[list]) -> Path:
    lines = ["date," + ",".join(columns)]
    lines += [date + "," + ",".join(v if isinstance(v, str) else repr(v) for v in row)
              for date, row in zip(dates, values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@FAST
@given(table=tables())
def test_any_finite_series_reads_back_exactly(table):
    columns, dates, values = table
    with tempfile.TemporaryDirectory() as folder:
        read_dates, read_values, read_columns = read_csv(write_csv(Path(folder) / "s.csv", columns, dates, values))
    assert read_columns == columns
    np.testing.assert_array_equal(read_values, np.array(values, dtype=np.float64))
    assert list(read_dates.dt.strftime(DATE)) == dates


@FAST
@given(table=tables(), data=st.data(), token=NOT_NUMBERS)
def test_a_value_that_is_not_a_finite_number_is_named_by_line_column_and_value(table, data, token):
    columns, dates, values = table
    row = data.draw(st.integers(0, len(dates) - 1))
    column = data.draw(st.integers(0, len(columns) - 1))
    values[row][column] = token
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "s.csv", columns, dates, values)
        with pytest.raises(SeqkitError) as err:
            read_csv(path)
    assert str(err.value) == (f"{path}: line {row + 2}, column {columns[column]}: {token!r} is not a finite "
                              f"number; fill or drop that row")


@FAST
@given(table=tables(min_rows=2), data=st.data(), repeat=st.booleans())
def test_unsorted_or_repeated_dates_are_refused_at_the_first_offending_line(table, data, repeat):
    columns, dates, values = table
    row = data.draw(st.integers(1, len(dates) - 1))
    before = datetime.strptime(dates[row - 1], DATE)
    earlier = before - timedelta(seconds=data.draw(st.integers(1, 10**8)))
    dates[row] = dates[row - 1] if repeat else earlier.strftime(DATE)
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "s.csv", columns, dates, values)
        with pytest.raises(SeqkitError) as err:
            read_csv(path)
    how = "repeats the date of" if repeat else "is earlier than"
    assert one_line(err.value).startswith(f"{path}: line {row + 2}, column date: {dates[row]!r} {how} "
                                          f"line {row + 1} ({dates[row - 1]!r}); sort the rows by date")


@FAST
@given(table=tables(min_rows=2), data=st.data(), token=st.from_regex(r"[A-Za-z][A-Za-z :/]{0,9}", fullmatch=True))
def test_text_in_the_date_column_is_named_by_line_and_value(table, data, token):
    columns, dates, values = table
    row = data.draw(st.integers(1, len(dates) - 1))  # the first row sets the format the others must follow
    dates[row] = token
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "s.csv", columns, dates, values)
        with pytest.raises(SeqkitError) as err:
            read_csv(path)
    assert one_line(err.value).startswith(f"{path}: line {row + 2}, column date: {token!r} is not a date")


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read as CSV"),
    (b"time,a\n2020-01-01,1\n", "no 'date' column (columns: time, a); the first column must be named date"),
    (b"date\n2020-01-01\n", "no value columns beside 'date'"),
    (b"date,a,b\n", "no data rows"),
    (b"date,a,a\n2020-01-01,1,2\n", "column 'a' appears twice in the header; rename or drop one"),
    (b"date,date\n2020-01-01,2020-01-02\n", "column 'date' appears twice in the header"),
    (b"date,,b\n2020-01-01,1,2\n", "column 2 of the header has no name; name every column"),
    (b"date,a\n2020-01-01,1,5\n", "the rows have more fields than the header's 2"),
    (b"date,a\n2020-01-01,1\n2020-01-02,1,3\n", "Expected 2 fields in line 3, saw 3"),
    (b"date,\xe9t\xe9\n2020-01-01,1\n", "cannot read as CSV ('utf-8' codec can't decode byte 0xe9"),
    (b"\x00\x01\x02\xff\xfe binary", "cannot read as CSV"),
    (b"date,a\n2020-01-01T00:00:00+01:00,1\n2020-01-01T00:00:00Z,2\n", "column date: Mixed timezones"),
])
def test_malformed_csv_files_get_one_line_errors(tmp_path, content, message):
    path = tmp_path / "series.csv"
    path.write_bytes(content)
    with pytest.raises(SeqkitError) as err:
        read_csv(path)
    assert one_line(err.value, path, message).startswith(str(path))


def test_a_single_row_reads_but_cannot_make_a_window(tmp_path):
    path = write_csv(tmp_path / "one.csv", ["a", "b"], ["2020-01-01 00:00:00"], [[1.5, -2.0]])
    dates, values, columns = read_csv(path)
    assert values.tolist() == [[1.5, -2.0]] and columns == ["a", "b"] and len(dates) == 1
    with pytest.raises(SeqkitError) as err:
        SeriesData(str(path), seq_len=4, pred_len=2)
    one_line(err.value, path, "shorter than seq_len + pred_len")


def test_a_missing_target_column_names_the_columns(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["load"], [f"2020-01-{d:02d} 00:00:00" for d in range(1, 21)],
                     [[float(d)] for d in range(20)])
    with pytest.raises(SeqkitError) as err:
        SeriesData(str(path), seq_len=4, pred_len=2, features="S", target="OT")
    one_line(err.value, path, "target column 'OT' not found (columns: load)")


def million_rows(path: Path, columns: list[str]) -> pd.DataFrame:
    rows = 1_000_000
    stamps = np.datetime64("1990-01-01T00:00") + np.arange(rows) * np.timedelta64(15, "m")
    values = np.random.default_rng(0).integers(-999, 1000, (rows, len(columns)))  # integers: a quick write
    frame = pd.DataFrame(values, columns=columns)
    frame.insert(0, "date", np.datetime_as_string(stamps, unit="s"))
    frame.to_csv(path, index=False)
    return frame


def test_a_million_rows_are_read_and_forecast_from(ltsf_run, tmp_path):
    columns = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]  # ETTh1's: what the run was trained on
    frame = million_rows(tmp_path / "big.csv", columns)
    start = time.perf_counter()
    code, out, err = seqkit("predict", ltsf_run, "--csv", tmp_path / "big.csv", "--out", tmp_path / "f.csv")
    seconds = time.perf_counter() - start
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert list(forecast.columns) == ["date", *columns] and len(forecast) == 24
    last = pd.Timestamp(frame["date"].iloc[-1])  # the forecast continues the 15-minute steps
    assert list(pd.to_datetime(forecast["date"])) == [last + pd.Timedelta(minutes=15 * (k + 1)) for k in range(24)]
    assert np.isfinite(forecast[columns].to_numpy()).all()
    assert seconds < 30, f"predict on 10^6 rows took {seconds:.1f} s"


BAD_SERIES = {
    "text in a number column": lambda rows: rows.replace(",1.5,", ",abc,", 1),
    "nan": lambda rows: rows.replace(",1.5,", ",nan,", 1),
    "inf": lambda rows: rows.replace(",1.5,", ",-inf,", 1),
    "empty value": lambda rows: rows.replace(",1.5,", ",,", 1),
    "duplicate date": lambda rows: rows.replace("2020-01-01 05:00:00", "2020-01-01 04:00:00", 1),
    "unsorted dates": lambda rows: rows.replace("2020-01-01 05:00:00", "2019-12-31 05:00:00", 1),
    "text as a date": lambda rows: rows.replace("2020-01-01 05:00:00", "soon", 1),
    "missing column": lambda rows: rows.replace("date,HUFL,", "date,HUFX,", 1),
    "one row": lambda rows: "\n".join(rows.splitlines()[:2]) + "\n",
    "no rows": lambda rows: rows.splitlines()[0] + "\n",
    "empty file": lambda rows: "",
    "latin-1": lambda rows: rows.replace("HUFL", "HÜFL", 1),
}


def etth1_like(rows: int = 120) -> str:
    """A CSV with the run's columns, hourly, a value 1.5 in the second column of every row."""
    header = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
    start = datetime(2020, 1, 1)
    return header + "".join(f"{(start + timedelta(hours=h)).strftime(DATE)},{h % 7},1.5,{h},2,3,4,{h / 10}\n"
                            for h in range(rows))


@FEW
@given(case=st.sampled_from(sorted(BAD_SERIES)), name=st.from_regex(r"[a-z][a-z0-9_ -]{0,12}", fullmatch=True))
def test_predict_refuses_a_bad_csv_and_changes_nothing(ltsf_run, case, name):
    before = digest(ltsf_run)
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / f"{name}.csv", Path(folder) / "forecast.csv"
        text = BAD_SERIES[case](etth1_like())
        source.write_bytes(text.encode("latin-1" if case == "latin-1" else "utf-8"))
        code, _, err = seqkit("predict", ltsf_run, "--csv", source, "--out", out)
        assert not out.exists()
    message = one_line_error(code, err, source)
    if case == "missing column":
        assert "missing column(s) HUFL the model was trained on" in message
    assert digest(ltsf_run) == before


def test_predict_into_a_missing_folder_or_from_a_folder_is_named(ltsf_run, tmp_path):
    source = tmp_path / "recent.csv"
    source.write_text(etth1_like())
    before = digest(ltsf_run)
    code, _, err = seqkit("predict", ltsf_run, "--csv", source, "--out", tmp_path / "nowhere" / "f.csv")
    assert "does not exist; create it or pass another --out" in one_line_error(code, err, tmp_path / "nowhere")
    code, _, err = seqkit("predict", ltsf_run, "--csv", tmp_path, "--out", tmp_path / "f.csv")
    one_line_error(code, err, tmp_path)
    assert digest(ltsf_run) == before and not (tmp_path / "nowhere").exists() and not (tmp_path / "f.csv").exists()


def test_predict_reads_a_good_csv(ltsf_run, tmp_path):
    source = tmp_path / "recent.csv"
    source.write_text(etth1_like())
    code, _, err = seqkit("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert len(forecast) == 24 and forecast["date"].iloc[0] == "2020-01-06 00:00:00"


# ---------------------------------------------------------------------------------------------
# Audio

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


def test_transcribe_reads_valid_files_names_bad_ones_and_changes_nothing(asr_run, data_root, tmp_path):
    before = digest(asr_run)
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
    code, out, err = seqkit("transcribe", asr_run, *[tmp_path / f for f in files])
    assert code == 1 and "Traceback" not in err
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(tmp_path / f) for f in files[::2][:2]]
    errors = err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in errors] == [str(tmp_path / f) for f in files if f not in
                                                             ("stereo48k24bit.wav", "float.wav")]
    assert all(line.startswith("error: ") for line in errors)
    assert digest(asr_run) == before


# ---------------------------------------------------------------------------------------------
# Text

@FAST
@given(text=st.text(min_size=1).filter(lambda t: "\x00" not in t))
@example(text="a")
def test_any_utf8_text_reads_back_exactly(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_bytes(text.encode("utf-8"))
        assert read_text(path) == text


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
            assert text == content.decode("utf-8") and text and "\x00" not in text


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


# ---------------------------------------------------------------------------------------------
# Configs

RECIPES = {name: ROOT / "recipes" / name for name in ("ltsf", "asr", "lm", "kws")}


def leaves(cfg: dict, prefix: str = "") -> dict[str, object]:
    """Every setting of a config by dotted path (block specs' arguments included)."""
    found = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


SETTINGS = {name: leaves(OmegaConf.to_container(OmegaConf.load(path / "config.yaml")))
            for name, path in RECIPES.items()}
NEEDED = sorted((name, key) for name, keys in SETTINGS.items() for key, value in keys.items()
                if value is not None and not isinstance(value, list))


@FAST
@given(setting=st.sampled_from(NEEDED), form=st.sampled_from(["{}=", "{}=null", "{}=???"]))
def test_a_setting_left_empty_is_refused_naming_it(setting, form):
    recipe, key = setting
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[form.format(key)])
    message = one_line(err.value, key)
    assert "no value" in message


@FAST
@given(recipe=st.sampled_from(sorted(RECIPES)), data=st.data(),
       word=st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True))
def test_a_value_of_the_wrong_type_is_refused_naming_key_and_value(recipe, data, word):
    typed = sorted(k for k, v in SETTINGS[recipe].items() if isinstance(v, (bool, int, float)))
    key = data.draw(st.sampled_from(typed))
    value = f"x{word}"  # never a number nor a YAML boolean
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[f"{key}={value}"])
    message = one_line(err.value, key, value)
    assert "must be" in message


@FAST
@given(recipe=st.sampled_from(sorted(RECIPES)),
       parts=st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=1, max_size=3))
def test_an_unknown_key_is_refused_naming_it_and_the_valid_ones(recipe, parts):
    key = ".".join(parts)
    known = set(SETTINGS[recipe]) | {k.rsplit(".", 1)[0] for k in SETTINGS[recipe]}
    assume(key not in known and not any(key.startswith(f"model.{kind}.") for kind in ("frontend", "backend", "head")))
    # The first part of the key that the config does not have (or the setting that is not a section).
    depth = next(k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) not in known
                 or ".".join(parts[:k]) in SETTINGS[recipe] and k < len(parts))
    named = ".".join(parts[:depth])
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[f"{key}=1"])
    message = one_line(err.value, named)
    assert (f"unknown key {named!r}" in message and ("did you mean" in message or "valid names" in message)
            or f"{named} in the command-line overrides must be" in message)


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["data", "model", "trainer", "backend", "seq_len",
                                                             "hidden", "name", "max_epochs", "x"]), inner,
                                            max_size=3)),
    max_leaves=8,
)


@FAST
@given(content=st.one_of(YAML_VALUES.map(yaml.safe_dump), st.text(max_size=60)))
@example(content="data: [1, 2\n")
@example(content="data:\n  seq_len: 1\n data: 2\n")
def test_any_overlay_file_loads_or_fails_in_one_line(content):
    with tempfile.TemporaryDirectory() as folder:
        overlay = Path(folder) / "mine.yaml"
        overlay.write_text(content, encoding="utf-8")
        try:
            cfg = load_config(RECIPES["ltsf"], [overlay])
        except SeqkitError as err:
            one_line(err)
        else:
            assert cfg.data.seq_len is not None and cfg.model.backend.name


# ---------------------------------------------------------------------------------------------
# Command-line arguments

OPTION = st.from_regex(r"--[a-z][a-z-]{0,10}", fullmatch=True).filter(
    lambda o: o not in {"--help", "--csv", "--out", "--beam", "--json", "--lm", "--lm-weight", "--config",
                        "--data-root", "--resume", "--prompt", "--length", "--temperature", "--top-k", "--seed"})


@FEW
@given(command=st.sampled_from(["run", "eval", "predict", "transcribe", "generate", "blocks", "ls", "cp", "new"]),
       option=OPTION)
def test_an_unknown_option_is_one_line_naming_it(ltsf_run, command, option):
    before = digest(ltsf_run)
    code, _, err = seqkit(command, ltsf_run, option)
    assert code == 2
    message = one_line_error(code, err, f"see seqkit {command} --help")
    assert option in message or "Missing" in message or "unexpected extra argument" in message
    assert digest(ltsf_run) == before


@FEW
@given(args=st.sampled_from([
    ["transcribe", "{run}", "a.wav", "--beam", "{word}"],
    ["generate", "{run}", "--length", "{word}"],
    ["generate", "{run}", "--top-k", "{word}"],
    ["generate", "{run}", "--temperature", "{word}"],
    ["transcribe", "{run}", "a.wav", "--lm-weight", "{word}"],
]), word=st.from_regex(r"[a-z][a-z]{0,8}", fullmatch=True))
def test_a_malformed_option_value_is_one_line_naming_the_option(ltsf_run, args, word):
    assume(word not in ("inf", "nan", "infinity"))  # numbers to a float option
    before = digest(ltsf_run)
    code, _, err = seqkit(*[a.format(run=ltsf_run, word=word) for a in args])
    message = one_line_error(code, err, "Invalid value for")
    assert args[-2] in message and code == 2
    assert digest(ltsf_run) == before


@FEW
@given(name=st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True))
def test_missing_files_are_named(ltsf_run, asr_run, name):
    before = digest(ltsf_run), digest(asr_run)
    with tempfile.TemporaryDirectory() as folder:
        missing = Path(folder) / name
        for args in (["eval", missing], ["predict", missing, "--csv", missing], ["generate", missing],
                     ["transcribe", missing, missing], ["predict", ltsf_run, "--csv", missing],
                     ["run", missing], ["run", ROOT / "recipes/ltsf", "-c", missing],
                     ["transcribe", asr_run, "--lm", missing, "--beam", "2", missing]):
            code, _, err = seqkit(*args)
            assert code == 2, (args, err)
            one_line_error(code, err, missing if args[0] != "run" or "-c" in args else name)
    assert (digest(ltsf_run), digest(asr_run)) == before


@FEW
@given(override=st.one_of(
    st.sampled_from(["data.seq_len=abc", "data.pred_lem=3", "model.backend.name=gur", "data.pred_len=",
                     "data.path=???", "data.path=${nowhere}", "trainer.max_epochs=2.5", "model.frontend.seg_len=-24",
                     "data.batch_size=0", "data.features=X", "data", "=3", "model=3", "trainer.max_epochs=0",
                     "trainer.max_epochs=-5"]),
    st.from_regex(r"[a-z]{1,6}\.[a-z_]{1,8}=[a-z0-9]{0,5}", fullmatch=True)),
    reuse=st.booleans())
def test_a_failing_run_changes_nothing_in_an_existing_run(ltsf_run, tmp_path_factory, override, reuse):
    before = digest(ltsf_run)
    fresh = tmp_path_factory.mktemp("fresh") / "run"
    run_dir = ltsf_run if reuse else fresh
    # The smallest real run first, then the override under test, which wins over it.
    smallest = ["trainer.limit_train_batches=1", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
    code, _, err = seqkit("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", *smallest,
                          f"run_dir={run_dir}", override)
    if code == 0:  # a valid random override: it must not have reused the existing run
        assert not reuse
    else:
        one_line_error(code, err)
        assert code == 2 and not fresh.exists()
    assert digest(ltsf_run) == before
