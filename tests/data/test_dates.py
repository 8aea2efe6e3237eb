"""Date columns of series CSVs, the right regular timestamps or a one-line refusal, never a misreading."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqkit.data.series import SeriesData
from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError

from helpers import FAST, one_line, one_line_error, run_cli

COLUMNS = "HUFL,HULL,MUFL,MULL,LUFL,LULL,OT"  # what ltsf_run was trained on
BERLIN = ZoneInfo("Europe/Berlin")
FORMATS = {  # how a moment (UTC) is written in each style
    "iso": lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    "day first": lambda t: t.strftime("%d/%m/%Y %H:%M"),
    "month first": lambda t: t.strftime("%m/%d/%Y %H:%M"),
    "epoch seconds": lambda t: str(int(t.replace(tzinfo=timezone.utc).timestamp())),
    "offset": lambda t: t.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=5, minutes=30)))
    .isoformat(),
    "dst": lambda t: t.replace(tzinfo=timezone.utc).astimezone(BERLIN).isoformat(),  # +02:00 / +01:00
}
MINUTE_FORMATS = ("day first", "month first")  # no seconds written: steps of whole minutes


def write(path: Path, dates: list[str], extra: str = "") -> Path:
    lines = [f"date,{COLUMNS}{extra and ',' + extra.split('=')[0]}"]
    lines += [f"{d},{k % 7},1.5,{k},2,3,4,{k / 10}{extra and ',' + extra.split('=')[1]}" for k, d in enumerate(dates)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@st.composite
def series(draw):
    style = draw(st.sampled_from(sorted(FORMATS)))
    minutes = draw(st.sampled_from([15, 60, 24 * 60]))
    step = timedelta(minutes=minutes)
    rows = draw(st.integers(2, 400))
    if style == "dst":  # across the change of 30 October 2016 (02:00 CEST -> 02:00 CET)
        start = datetime(2016, 10, 30, 1) - step * draw(st.integers(1, rows - 1))
    else:
        start = draw(st.datetimes(datetime(1975, 1, 1), datetime(2030, 1, 1))).replace(second=0, microsecond=0)
        start = start.replace(minute=0) if minutes >= 60 else start
    return style, [start + step * k for k in range(rows)]


@FAST
@given(case=series())
def test_a_date_column_reads_as_its_moments_or_is_refused_in_one_line(case):
    style, moments = case
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "s.csv", [FORMATS[style](t) for t in moments])
        try:
            dates, _, _ = read_csv(path)
        except SeqkitError as err:  # only a column two formats read alike: the setting that decides is named
            assert style in MINUTE_FORMATS, err
            one_line(err, path, "data.date_format=", "--date-format")
            # a day past the 12th, or steps that one reading keeps even, decide: such a file is read
            assert all(t.day <= 12 for t in moments) and len({t.month for t in moments}) == 1, err
            return
    stamps = pd.DatetimeIndex(dates)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    assert list(stamps) == [pd.Timestamp(t) for t in moments]


@pytest.mark.parametrize("freq, rows", [
    ("h", 12 * 24),  # every row fits month first too, at uneven steps
    ("h", 20 * 24),  # 13/07 decides
    ("MS", 96),  # month starts; every row fits month first too: 1 to 12 January, then a year on
])
def test_day_first_dates_are_read_day_first_whatever_the_first_row(tmp_path, freq, rows):
    moments = pd.date_range("2016-07-01" if freq == "h" else "2016-01-01", periods=rows, freq=freq)
    dates, _, _ = read_csv(write(tmp_path / "s.csv", list(moments.strftime("%d/%m/%Y %H:%M"))))
    assert list(dates) == list(moments)


def test_a_truly_ambiguous_column_is_refused_and_date_format_decides(tmp_path):
    path = write(tmp_path / "two.csv", ["01/02/2016 00:00", "03/04/2016 00:00"])
    with pytest.raises(SeqkitError) as err:
        read_csv(path)
    one_line(err.value, path, "data.date_format='%d/%m/%Y %H:%M'", "--date-format")
    dates, _, _ = read_csv(path, date_format="%d/%m/%Y %H:%M")
    assert list(dates) == [pd.Timestamp("2016-02-01"), pd.Timestamp("2016-04-03")]
    with pytest.raises(SeqkitError) as err:
        read_csv(path, date_format="%Y-%m-%d")
    one_line(err.value, path, "line 2, column date: '01/02/2016 00:00' is not a date in the format %Y-%m-%d")


def test_epoch_seconds_are_read_and_written_back(ltsf_run, tmp_path):
    start = 1467331200  # 2016-07-01 00:00:00 UTC
    source = write(tmp_path / "epoch.csv", [str(start + 3600 * h) for h in range(120)])
    dates, _, _ = read_csv(source)
    assert dates.iloc[0] == pd.Timestamp("2016-07-01") and (dates.diff().dropna() == pd.Timedelta(hours=1)).all()
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert list(forecast["date"]) == [start + 3600 * (120 + k) for k in range(24)]


def test_predict_continues_day_first_dates_in_their_format(ltsf_run, tmp_path):
    start = datetime(2016, 7, 1)
    source = write(tmp_path / "dayfirst.csv", [(start + timedelta(hours=h)).strftime("%d/%m/%Y %H:%M")
                                               for h in range(12 * 24)])
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")
    assert list(forecast["date"]) == [f"13/07/2016 {h:02d}:00" for h in range(24)]


def test_predict_takes_date_format_from_the_option_or_the_checkpoint(ltsf_run, tmp_path):
    day = [(datetime(2016, 5, 3) + timedelta(minutes=15 * k)).strftime("%d/%m/%Y %H:%M") for k in range(96)]
    source = write(tmp_path / "one_day.csv", day)  # 3 May or 5 March: both read it at even steps
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "a.csv")
    one_line_error(code, err, source, "data.date_format='%d/%m/%Y %H:%M'", "--date-format")
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "a.csv",
                           "--date-format", "%d/%m/%Y %H:%M")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "a.csv")["date"].iloc[:2].tolist() == ["04/05/2016 00:00", "04/05/2016 00:15"]
    checkpoint = torch.load(ltsf_run / "checkpoints/best.ckpt", weights_only=True)
    checkpoint["seqkit"]["date_format"] = "%m/%d/%Y %H:%M"  # as SeriesData(date_format=...).info keeps it
    torch.save(checkpoint, tmp_path / "monthfirst.ckpt")
    code, _, err = run_cli("predict", tmp_path / "monthfirst.ckpt", "--csv", source, "--out", tmp_path / "b.csv")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "b.csv")["date"].iloc[0] == "03/06/2016 00:00"  # 6 March, month first


def test_series_data_keeps_a_set_date_format_for_the_checkpoint(tmp_path):
    hours = [(datetime(2016, 7, 1) + timedelta(hours=h)).strftime("%d/%m/%Y %H:%M") for h in range(100)]
    path = write(tmp_path / "s.csv", hours)
    assert SeriesData(str(path), seq_len=8, pred_len=4).info["date_format"] is None
    assert SeriesData(str(path), seq_len=8, pred_len=4, date_format="%d/%m/%Y %H:%M").info["date_format"] == \
        "%d/%m/%Y %H:%M"


def test_predict_refuses_irregular_dates_instead_of_guessing_a_step(ltsf_run, tmp_path):
    hours = [datetime(2020, 1, 1) + timedelta(hours=h) for h in range(130) if h % 10 != 3]  # gaps
    source = write(tmp_path / "gaps.csv", [t.strftime("%Y-%m-%d %H:%M:%S") for t in hours])
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    message = one_line_error(code, err, source, "not evenly spaced", "line 113")
    assert "resample" in message and not (tmp_path / "f.csv").exists()

