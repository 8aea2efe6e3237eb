"""The ETT and custom protocols on the real ETTh1, and clear errors for bad CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seqkit.data.series import SeriesData, borders
from seqkit.errors import SeqkitError


def test_ett_hour_protocol_on_etth1(etth1):
    data = SeriesData("ETT-small/ETTh1.csv", seq_len=720, pred_len=96)
    assert data.protocol == "ett_hour"
    assert data.borders == [(0, 8640), (8640 - 720, 11520), (11520 - 720, 14400)]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 7825, "val": 2785, "test": 2785}
    raw = pd.read_csv(etth1).drop(columns="date").to_numpy(np.float64)
    np.testing.assert_allclose(data.mean, raw[:8640].mean(0), rtol=1e-5)
    np.testing.assert_allclose(data.std, raw[:8640].std(0), rtol=1e-5)  # population std, like StandardScaler
    assert not np.allclose(data.mean, raw.mean(0), rtol=1e-3)  # not fit on all rows
    # A window is rows [i, i+L) as input and [i+L, i+L+H) as target, scaled with the training stats.
    batch = data.splits["test"].__getitems__([0, 2784])
    expected = (raw[10800:10800 + 816] - raw[:8640].mean(0)) / raw[:8640].std(0)
    np.testing.assert_allclose(batch["inputs"][0].numpy(), expected[:720], atol=1e-4)
    np.testing.assert_allclose(batch["targets"][0].numpy(), expected[720:], atol=1e-4)
    assert batch["targets"].shape == (2, 96, 7)
    last = (raw[14400 - 96:14400] - raw[:8640].mean(0)) / raw[:8640].std(0)
    np.testing.assert_allclose(batch["targets"][1].numpy(), last, atol=1e-4)


def test_test_loader_keeps_every_window():
    data = SeriesData("ETT-small/ETTh1.csv", seq_len=720, pred_len=96, batch_size=64)
    sizes = [len(b["inputs"]) for b in data.test_dataloader()]
    assert sum(sizes) == 2785 and sizes[-1] == 2785 % 64


def test_ett_minute_borders_are_four_times_the_hourly_ones():
    assert borders("ett_minute", 69680, 96) == [(0, 34560), (34560 - 96, 46080), (46080 - 96, 57600)]


def test_custom_protocol_and_target_only(tmp_path, etth1):
    frame = pd.read_csv(etth1).iloc[:2000]
    path = tmp_path / "plant.csv"
    frame.to_csv(path, index=False)
    data = SeriesData(str(path), seq_len=96, pred_len=24, features="S", target="OT")
    assert data.protocol == "custom" and data.columns == ["OT"]
    assert data.borders == [(0, 1400), (1400 - 96, 1600), (1600 - 96, 2000)]
    windows = {"train": 1400 - 120 + 1, "val": 296 - 120 + 1, "test": 496 - 120 + 1}  # rows - (L + H) + 1
    assert {k: len(v) for k, v in data.splits.items()} == windows
    np.testing.assert_allclose(data.mean, [frame["OT"].iloc[:1400].mean()], rtol=1e-5)
    assert data.dims == {"in_dim": 1, "channels": 1, "seq_len": 96, "pred_len": 24}


def _write(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("time,a\n2020-01-01,1\n", r"bad.csv: no 'date' column \(columns: time, a\)"),
    ("date,a,b\n2020-01-01,1,2\n2020-01-02,x,3\n", r"bad.csv: line 3, column a: 'x' is not a finite number"),
    ("date,a,b\n2020-01-01,1,2\n2020-01-02,4,\n", r"bad.csv: line 3, column b: '' is not a finite number"),
    ("date,a\n2020-01-01,nan\n", r"line 2, column a: 'nan' is not a finite number"),
    ("date,a\n2020-01-01,inf\n", r"line 2, column a: 'inf' is not a finite number"),
    ("date,a\nyesterday,1\n", r"line 2, column date: 'yesterday' is not a date"),
    ("date,a\n", r"bad.csv: no data rows"),
])
def test_bad_csv_names_the_file_column_and_line(tmp_path, text, message):
    with pytest.raises(SeqkitError, match=message):
        SeriesData(_write(tmp_path, text), seq_len=4, pred_len=2)


def test_missing_target_and_too_short_series(tmp_path):
    rows = "\n".join(f"2020-01-{d:02d},{d}" for d in range(1, 21))
    path = _write(tmp_path, "date,a\n" + rows + "\n")
    with pytest.raises(SeqkitError, match="target column 'OT' not found"):
        SeriesData(path, seq_len=4, pred_len=2, features="S")
    with pytest.raises(SeqkitError, match="shorter than seq_len \\+ pred_len"):
        SeriesData(path, seq_len=8, pred_len=4)


def test_windows_are_views_of_one_tensor():
    data = SeriesData("ETT-small/ETTh1.csv", seq_len=720, pred_len=96)
    assert data.splits["val"].values.data_ptr() == data.values[7920].data_ptr()
    assert isinstance(data.values, torch.Tensor) and data.values.shape == (17420, 7)
