"""The paper's data sets by name: every recipes/ltsf overlay holds the official script's settings,
builds its model, and runs end to end on its data (ETTh2 and ETTm2, absent here, on stand-ins of the
same shape made from ETTh1 and ETTm1 rows)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pandas as pd
import pytest
import torch

import seqkit as sk
from seqkit.data.root import locate

from helpers import ROOT, run_cli

# overlay: (data file, seg_len, head dropout, channel embedding, batch per optimizer step, lr, norm)
PAPER = {
    "etth1": ("ETT-small/ETTh1.csv", 24, 0.1, True, 64, 3e-4, "last"),
    "etth2": ("ETT-small/ETTh2.csv", 24, 0.5, False, 64, 3e-4, "last"),
    "ettm1": ("ETT-small/ETTm1.csv", 48, 0.5, True, 256, 3e-4, "last"),
    "ettm2": ("ETT-small/ETTm2.csv", 48, 0.5, False, 256, 3e-4, "last"),
    "weather": ("weather/weather.csv", 48, 0.1, True, 128, 1e-4, "revin"),
}
STAND_INS = {"etth2": ("ETTh2.csv", "ETT-small/ETTh1.csv"), "ettm2": ("ETTm2.csv", "ETT-small/ETTm1.csv")}


def overlay(name: str) -> Path:
    return ROOT / "recipes/ltsf" / f"{name}.yaml"


@pytest.mark.parametrize("name", PAPER)
def test_overlay_holds_the_official_settings(name):
    path, seg_len, dropout, channel, batch, lr, norm = PAPER[name]
    cfg = sk.load_config(ROOT / "recipes/ltsf", [overlay(name)])
    assert cfg.data.path == path and cfg.data.seq_len == 720 and cfg.data.pred_len == 96
    assert cfg.model.frontend.seg_len == seg_len and cfg.model.frontend.dim == 512
    assert cfg.model.frontend.norm == norm
    assert cfg.model.backend.name == "segrnn" and cfg.model.backend.cell == "gru"
    assert cfg.model.backend.decoding == "pmf" and cfg.model.backend.hidden == 512
    assert cfg.model.backend.channel_embedding is channel
    assert cfg.model.head.dropout == dropout
    assert cfg.data.batch_size * cfg.trainer.accumulate_grad_batches == batch
    assert cfg.train.lr == pytest.approx(lr) and cfg.train.schedule == "type3"
    assert cfg.trainer.max_epochs == 30 and cfg.trainer.patience == 5
    assert cfg.data.repeated_dates == ("keep" if name == "weather" else "error")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, data_root) -> dict[str, Path]:
    """ETTh2.csv and ETTm2.csv of ETTh1's and ETTm1's rows (same columns, rows and steps)."""
    folder = tmp_path_factory.mktemp("stand-ins")
    made = {}
    for name, (file, source) in STAND_INS.items():
        made[name] = folder / file
        shutil.copyfile(data_root / source, made[name])
    return made


@pytest.mark.parametrize("name", PAPER)
def test_overlay_builds_its_model_on_its_data(name, stand_ins):
    cfg = sk.load_config(ROOT / "recipes/ltsf", [overlay(name)])
    path = stand_ins.get(name, cfg.data.path)
    data = sk.SeriesData(**{**cfg.data, "path": str(path)})
    model = sk.build_model(cfg.model, **data.dims)
    batch = data.splits["val"].__getitems__([0, 1])
    forecast, _ = model(batch["inputs"])
    assert forecast.shape == (2, 96, len(data.columns))
    channel = model.backend.channel
    assert (channel is not None) is PAPER[name][3]


@pytest.mark.parametrize("name", PAPER)
def test_overlay_runs_end_to_end(name, stand_ins, tmp_path):
    run_dir = tmp_path / "run"
    extra = [f"data.path={stand_ins[name]}"] if name in stand_ins else []
    code, out, err = run_cli("run", ROOT / "recipes/ltsf", "-c", overlay(name), "-c", ROOT / "configs/debug.yaml",
                             "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                             "trainer.limit_test_batches=1", f"run_dir={run_dir}", *extra)
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["mse"] > 0 and metrics["data"]["seq_len"] == 720
    if name == "weather":  # the names with U+FFFD reach the checkpoint, predict and export unchanged
        columns = torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)["seqkit"]["columns"]
        assert sum("\ufffd" in c for c in columns) == 3
        future = tmp_path / "future.csv"
        code, _, err = run_cli("predict", run_dir, "--csv", locate("weather/weather.csv"), "--out", future)
        assert code == 0, err
        written = pd.read_csv(future)
        assert list(written.columns) == ["date", *columns] and len(written) == 96
        exported = tmp_path / "weather.onnx"
        code, _, err = run_cli("export", run_dir, exported)
        assert code == 0, err
        metadata = json.loads({p.key: p.value for p in onnx.load(exported).metadata_props}["seqkit"])
        assert metadata["columns"] == columns
