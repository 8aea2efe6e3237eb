"""The paper's other data sets on the real files: ETTm1's 15-minute borders, Weather's custom split
with its one repeated row, and the data root's addresses and checksums for the ETT files."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from seqkit.data.root import KNOWN, UNHOSTED, locate
from seqkit.data.series import SeriesData, borders
from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError

WEATHER = "weather/weather.csv"


def test_ettm1_uses_the_hourly_borders_times_four(data_root):
    data = SeriesData("ETT-small/ETTm1.csv", seq_len=720, pred_len=96)
    assert data.protocol == "ett_minute" and len(data.dates) == 69680
    assert data.borders == [(0, 34560), (34560 - 720, 46080), (46080 - 720, 57600)]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 33745, "val": 11425, "test": 11425}
    train = data.values[:34560].double()  # standardised with the training rows only
    assert train.mean(0).abs().max() < 1e-5 and (train.std(0, unbiased=False) - 1).abs().max() < 1e-5


def test_weather_keeps_the_repeated_row_as_published(data_root):
    data = SeriesData(WEATHER, seq_len=720, pred_len=96, repeated_dates="keep")
    assert data.protocol == "custom" and len(data.dates) == 52696 and len(data.columns) == 21
    sizes = [end - start for start, end in data.borders]
    assert sizes == [36887, 5270 + 720, 10539 + 720]
    assert data.borders == borders("custom", 52696, 720)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 36887 - 816 + 1, "val": 5270 - 96 + 1,
                                                           "test": 10539 - 96 + 1}
    assert data.info["repeated_dates"] == "keep"


def test_weather_is_refused_by_default_with_the_setting_named(data_root):
    with pytest.raises(SeqkitError) as err:
        SeriesData(WEATHER, seq_len=720, pred_len=96)
    message = str(err.value)
    assert "\n" not in message
    assert "line 19046, column date: '2020-05-12 06:00:00' repeats the date of line 19045" in message
    assert "data.repeated_dates=keep" in message


def test_drop_removes_exactly_the_repeated_row(data_root):
    path = locate(WEATHER)
    kept = read_csv(path, repeated_dates="keep")
    dropped = read_csv(path, repeated_dates="drop")
    assert len(dropped[1]) == len(kept[1]) - 1 == 52695
    stamps = pd.DatetimeIndex(kept[0])
    row = int((stamps[1:] == stamps[:-1]).nonzero()[0][0]) + 1  # the later of the two equal dates
    assert row == 19046 - 2  # line 19046 of the file: the header is line 1
    assert (kept[1][row] == kept[1][row - 1]).all()  # an exact duplicate
    assert (dropped[1][:row] == kept[1][:row]).all() and (dropped[1][row:] == kept[1][row + 1:]).all()
    assert pd.DatetimeIndex(dropped[0]).is_unique and dropped[0].attrs == kept[0].attrs


def test_unknown_repeated_dates_setting_is_named(data_root):
    with pytest.raises(SeqkitError, match="data.repeated_dates must be one of error, keep, drop, got 'skip'"):
        read_csv(locate("ETT-small/ETTh1.csv"), repeated_dates="skip")


def test_weather_column_names_keep_their_replacement_characters(data_root):
    columns = read_csv(locate(WEATHER), repeated_dates="keep")[2]
    odd = [c for c in columns if "\ufffd" in c]
    assert len(odd) == 3 and columns[-1] == "OT"


def test_the_data_root_knows_the_ett_files_and_the_weather_checksum(data_root):
    for name, sha in [("ETTh2", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"),
                      ("ETTm1", "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"),
                      ("ETTm2", "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd")]:
        remote = KNOWN[f"ETT-small/{name}.csv"]
        assert remote.url == f"https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{name}.csv"
        assert remote.sha256 == sha
    # the shared copies are the bytes the table names
    for path, sha in [("ETT-small/ETTm1.csv", KNOWN["ETT-small/ETTm1.csv"].sha256),
                      (WEATHER, UNHOSTED[WEATHER].sha256)]:
        assert hashlib.sha256((data_root / path).read_bytes()).hexdigest() == sha


def test_a_missing_weather_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path))
    with pytest.raises(SeqkitError) as err:
        locate(WEATHER)
    message = str(err.value)
    assert "\n" not in message and "no stable upstream address" in message
    assert "Time-Series-Library" in message and UNHOSTED[WEATHER].sha256 in message
    assert not (tmp_path / "weather").exists()
