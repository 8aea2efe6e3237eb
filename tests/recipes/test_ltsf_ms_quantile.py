"""Multivariate-to-target forecasting (data.features MS) and prediction intervals (a quantile head)
through the LTSF recipe on the real ETTh1: training, metrics, predict, the plot's band and export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

import seqkit as sk
from seqkit import plots

from helpers import ROOT, run_cli

SMALL = ["data.seq_len=96", "model.frontend.dim=32", "model.backend.hidden=32", "trainer.limit_train_batches=3",
         "trainer.limit_val_batches=1", "trainer.limit_test_batches=2"]
ETTH1 = "ETT-small/ETTh1.csv"


def trained(tmp_path_factory, data_root, name: str, *overrides: str) -> Path:
    """A debug run of the recipe with `overrides`, for the module's tests."""
    run_dir = tmp_path_factory.mktemp(name) / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml",
                               f"run_dir={run_dir}", *SMALL, *overrides)
    assert code == 0, err
    return run_dir


@pytest.fixture(scope="module")
def ms_run(tmp_path_factory, data_root) -> Path:
    return trained(tmp_path_factory, data_root, "ms", "data.features=MS")


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory, data_root) -> Path:
    return trained(tmp_path_factory, data_root, "quantile", "model.head.loss=quantile",
                   "model.head.quantiles=[0.1,0.25,0.5,0.75,0.9]")


def test_ms_windows_take_every_column_and_target_one(data_root):
    ms = sk.SeriesData(ETTH1, seq_len=96, pred_len=24, features="MS")
    m = sk.SeriesData(ETTH1, seq_len=96, pred_len=24, features="M")
    picks = [0, 5, 17]
    got, full = ms.splits["test"].__getitems__(picks), m.splits["test"].__getitems__(picks)
    assert got["inputs"].shape == (3, 96, 7) and got["targets"].shape == (3, 24, 1)
    assert torch.equal(got["inputs"], full["inputs"])
    assert torch.equal(got["targets"][..., 0], full["targets"][..., 6])  # OT, the last column
    assert ms.dims["target_channel"] == 6 and "target_channel" not in m.dims
    assert ms.info["forecast_columns"] == ["OT"] and len(ms.info["scaler"]["mean"]) == 7
    model = sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
                            "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast"}}, **ms.dims)
    assert model(got["inputs"])[0].shape == (3, 24, 1)


def test_ms_run_scores_the_target_on_its_own_scale(ms_run, data_root):
    metrics = json.loads((ms_run / "metrics.json").read_text())["test"]
    model, info = sk.load_model(ms_run / "checkpoints/best.ckpt")
    data = sk.SeriesData(**{**info["config"]["data"]})
    batch = data.splits["test"].__getitems__(list(range(16)))  # the debug overlay tests 2 batches of 16
    batch2 = data.splits["test"].__getitems__(list(range(16, 32)))
    with torch.no_grad():
        forecast = torch.cat([model(b["inputs"])[0] for b in (batch, batch2)])
    truth = torch.cat([batch["targets"], batch2["targets"]])
    std = info["scaler"]["std"][6]
    # the run tested in bf16-mixed, this in float32: equal to a few parts in 10^4; another channel is far off
    assert metrics["mse"] == pytest.approx(torch.mean((forecast - truth) ** 2).item(), rel=3e-3)
    assert metrics["mse_original"] == pytest.approx(metrics["mse"] * std ** 2, rel=1e-4)
    assert metrics["mae_original"] == pytest.approx(metrics["mae"] * std, rel=1e-4)


def test_ms_predict_writes_the_target_only(ms_run, etth1, tmp_path):
    out = tmp_path / "future.csv"
    code, _, err = run_cli("predict", ms_run, "--csv", etth1, "--out", out)
    assert code == 0, err
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["date", "OT"] and len(frame) == 96
    assert frame["OT"].between(-20, 60).all()  # on the original scale (ETTh1's OT is about 0-45)


def test_quantile_run_reports_pinball_and_coverage(quantile_run):
    metrics = json.loads((quantile_run / "metrics.json").read_text())["test"]
    for key in ("mse", "mae", "mse_original", "pinball", "pinball_original", "coverage_80", "coverage_50"):
        assert key in metrics, key
    assert 0 <= metrics["coverage_50"] <= metrics["coverage_80"] <= 1
    assert metrics["pinball"] > 0


def test_quantile_predict_writes_a_column_per_quantile(quantile_run, etth1, tmp_path):
    out = tmp_path / "future.csv"
    code, _, err = run_cli("predict", quantile_run, "--csv", etth1, "--out", out)
    assert code == 0, err
    frame = pd.read_csv(out)
    levels = ["0.1", "0.25", "0.5", "0.75", "0.9"]
    columns = list(pd.read_csv(etth1, nrows=0).columns[1:])
    assert list(frame.columns) == ["date", *[f"{c}_q{q}" for c in columns for q in levels]]
    values = frame[[f"OT_q{q}" for q in levels]].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()  # the quantiles never cross


def test_quantile_plot_draws_the_band(quantile_run, monkeypatch, tmp_path):
    assert (quantile_run / "forecast.png").stat().st_size > 0
    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path, **kw: drawn.update(fig=fig))
    lower, upper = np.zeros((2, 24, 1)), np.ones((2, 24, 1))
    plots.forecast_plot(tmp_path / "f.png", np.zeros((2, 96, 1)), lower + 0.5, lower + 0.5, ["OT"],
                        band=(lower, upper, "0.1-0.9 quantiles"))
    axes = drawn["fig"].axes
    assert all(len(ax.collections) == 1 for ax in axes)  # one shaded band a window
    band = axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0 and band[:, 1].max() == 1
    assert "0.1-0.9 quantiles" in [t.get_text() for t in axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("which", ["ms", "quantile"])
def test_export_verifies_ms_and_quantile_models(which, ms_run, quantile_run, tmp_path):
    run_dir = ms_run if which == "ms" else quantile_run
    out = tmp_path / "model.onnx"
    code, text, err = run_cli("export", run_dir, out)
    assert code == 0, err
    metadata = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["seqkit"])
    if which == "ms":
        assert metadata["forecast_columns"] == ["OT"] and "(batch, 96, 1)" in metadata["outputs"][0]
    else:
        assert metadata["quantiles"] == [0.1, 0.25, 0.5, 0.75, 0.9]
        assert "(batch, 96, 7, 5)" in metadata["outputs"][0]
