"""Columns of series CSVs: text columns left out (data.ignore, predict), time zones, the forecast's date format."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import seqkit as sk
from seqkit.data.series import SeriesData
from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError

from helpers import ROOT, one_line, run_cli

TRAINED = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]  # ltsf_run's columns


def series_csv(path, dates, extra: dict[str, str] | None = None):
    """A CSV of `dates` with the trained columns (and `extra` columns: name -> the value of every row)."""
    extra = extra or {}
    header = ",".join(["date", *TRAINED[:3], *extra, *TRAINED[3:]])
    rows = [",".join([d, str(k % 7), "1.5", str(k), *extra.values(), "2", "3", "4", str(k / 10)])
            for k, d in enumerate(dates)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def hours(count: int, start=datetime(2020, 1, 1)) -> list[str]:
    return [(start + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in range(count)]


def test_a_text_column_is_named_as_such_and_data_ignore_leaves_it_out(tmp_path):
    path = series_csv(tmp_path / "notes.csv", hours(40), {"note": "checked by hand"})
    with pytest.raises(SeqkitError) as err:
        read_csv(path)
    one_line(err.value, path, "column note is a text column", "data.ignore=[note]")
    _, values, columns = read_csv(path, ignore=["note"])
    assert columns == TRAINED and values.shape == (40, 7)
    data = SeriesData(str(path), seq_len=8, pred_len=4, ignore=["note"])
    assert data.columns == TRAINED and data.dims["channels"] == 7
    with pytest.raises(SeqkitError) as err:
        read_csv(path, ignore=["nothing"])
    one_line(err.value, path, "data.ignore", "'nothing'")


def test_the_ltsf_config_has_the_data_settings_of_series_data():
    config = sk.load_config(ROOT / "recipes/ltsf/config.yaml")
    assert list(config.data.ignore) == [] and config.data.date_format is None


def test_predict_leaves_out_every_column_the_model_was_not_trained_on(ltsf_run, tmp_path):
    source = series_csv(tmp_path / "extra.csv", hours(120), {"note": "ok", "load": "7.5"})
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    assert list(pd.read_csv(tmp_path / "f.csv").columns) == ["date", *TRAINED]


def test_a_daylight_saving_change_is_read_in_utc_and_the_forecast_keeps_the_offset(ltsf_run, tmp_path):
    berlin = timezone(timedelta(hours=2)), timezone(timedelta(hours=1))
    start = datetime(2016, 10, 30, 1, tzinfo=timezone.utc) - timedelta(hours=100)  # CEST until 01:00 UTC
    moments = [start + timedelta(hours=h) for h in range(120)]
    texts = [t.astimezone(berlin[0] if t.hour < 1 or t.day < 30 else berlin[1]).isoformat() for t in moments]
    assert texts[99].endswith("+02:00") and texts[100].endswith("+01:00")
    source = series_csv(tmp_path / "dst.csv", texts)
    dates, _, _ = read_csv(source)
    assert list(dates) == [pd.Timestamp(t) for t in moments]  # in UTC: one hour apart across the change
    code, _, err = run_cli("predict", ltsf_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 0, err
    forecast = pd.read_csv(tmp_path / "f.csv")["date"]
    after = moments[-1] + timedelta(hours=1)
    assert forecast.iloc[0] == after.astimezone(berlin[1]).isoformat()  # '2016-10-30T20:00:00+01:00'
    assert forecast.str.endswith("+01:00").all() and len(forecast) == 24


def test_a_daily_file_gets_dates_in_its_forecast(ltsf_run, tmp_path):
    days = [(datetime(2020, 1, 1) + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(120)]
    code, _, err = run_cli("predict", ltsf_run, "--csv", series_csv(tmp_path / "daily.csv", days),
                           "--out", tmp_path / "f.csv")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "f.csv")["date"].iloc[:2].tolist() == ["2020-04-30", "2020-05-01"]
