"""CSV series inputs, property-based: valid files read exactly, bad ones refused in one line (also by predict --csv)."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqkit.data.series import SeriesData
from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError

from helpers import FAST, FEW, digest, one_line, one_line_error, run_cli

DATE = "%Y-%m-%d %H:%M:%S"
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
    fix = "drop the repeated row, or set data.repeated_dates=keep (or drop)" if repeat else "sort the rows by date"
    assert one_line(err.value).startswith(f"{path}: line {row + 2}, column date: {dates[row]!r} {how} "
                                          f"line {row + 1} ({dates[row - 1]!r}); {fix}")


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
    code, out, err = run_cli("predict", ltsf_run, "--csv", tmp_path / "big.csv", "--out", tmp_path / "f.csv")
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
        code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", out)
        assert not out.exists()
    message = one_line_error(code, err, source)
    if case == "missing column":
        assert "missing column(s) HUFL the model was trained on" in message
    assert digest(ltsf_run) == before


def test_predict_into_a_missing_folder_or_from_a_folder_is_named(ltsf_run, tmp_path):
    source = tmp_path / "recent.csv"
    source.write_text(etth1_like())
    before = digest(ltsf_run)
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "nowhere" / "f.csv")
    assert "does not exist; create it or pass another --out" in one_line_error(code, err, tmp_path / "nowhere")
    code, _, err = run_cli("predict", ltsf_run, "--csv", tmp_path, "--out", tmp_path / "f.csv")
    one_line_error(code, err, tmp_path)
    assert digest(ltsf_run) == before and not (tmp_path / "nowhere").exists() and not (tmp_path / "f.csv").exists()


def test_predict_reads_a_good_csv(ltsf_run, tmp_path):
    source = tmp_path / "recent.csv"
    source.write_text(etth1_like())
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert len(forecast) == 24 and forecast["date"].iloc[0] == "2020-01-06 00:00:00"
