"""The LTSF recipe end to end on the real ETTh1: run, eval, predict, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import seqkit as sk

from helpers import ROOT, digest, run_cli

RUN_FILES = ["config.yaml", "metrics.json", "train.log", "forecast.png", "loss.png", "logs/metrics.csv",
             "checkpoints/best.ckpt", "checkpoints/last.ckpt"]


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory, data_root) -> Path:
    """One smoke run of the recipe with the debug overlay, at the paper's model size."""
    run_dir = tmp_path_factory.mktemp("ltsf") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", f"run_dir={run_dir}")
    assert code == 0, err
    assert "test MSE" in out
    return run_dir


def test_run_writes_every_file(debug_run):
    for name in RUN_FILES:
        assert (debug_run / name).is_file(), name
    metrics = json.loads((debug_run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"mse", "mae", "mse_original", "mae_original"}
    assert all(0 < v < 1e3 for v in metrics["test"].values())
    assert metrics["data"]["windows"] == {"train": 7825, "val": 2785, "test": 2785}
    config = sk.load_config(debug_run / "config.yaml")
    assert config.trainer.max_epochs == 1 and config.model.frontend.dim == 512
    assert "epoch 1:" in (debug_run / "train.log").read_text()


def test_checkpoint_holds_plain_data_only(debug_run):
    checkpoint = torch.load(debug_run / "checkpoints/best.ckpt", weights_only=True)
    info = checkpoint["seqkit"]
    assert info["recipe"] == "ltsf" and info["columns"][-1] == "OT" and len(info["scaler"]["mean"]) == 7


def test_eval_recomputes_the_test_metrics(debug_run):
    code, out, err = run_cli("eval", debug_run)
    assert code == 0, err
    recomputed = json.loads(out)
    recorded = json.loads((debug_run / "metrics.json").read_text())["test"]
    assert recomputed == pytest.approx(recorded, rel=1e-5)
    code, out, err = run_cli("eval", debug_run, "--warp", "auto")  # a speech option
    assert code == 2 and "--warp warps a spectrogram: it needs a conv_spectrogram front-end, not Segmenter" in err


def test_predict_writes_future_rows_with_timestamps(debug_run, etth1, tmp_path):
    source = tmp_path / "recent.csv"
    pd.read_csv(etth1).iloc[:1000].to_csv(source, index=False)
    out = tmp_path / "forecast.csv"
    code, _, err = run_cli("predict", debug_run / "checkpoints/best.ckpt", "--csv", source, "--out", out)
    assert code == 0, err
    forecast = pd.read_csv(out, parse_dates=["date"])
    history = pd.read_csv(source, parse_dates=["date"])
    assert list(forecast.columns) == list(history.columns) and len(forecast) == 96
    assert forecast["date"].iloc[0] == history["date"].iloc[-1] + pd.Timedelta(hours=1)
    assert (forecast["date"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert forecast.drop(columns="date").abs().max().max() < 1e3
    # The same forecast as the model gives the scaled window directly.
    model, info = sk.load_model(debug_run)
    mean, std = torch.tensor(info["scaler"]["mean"]), torch.tensor(info["scaler"]["std"])
    window = ((torch.tensor(history.drop(columns="date").to_numpy()[-720:]) - mean) / std).float()
    with torch.no_grad():
        direct = model(window.unsqueeze(0))[0][0].double() * std + mean
    assert torch.allclose(torch.tensor(forecast.drop(columns="date").to_numpy()), direct, rtol=1e-4, atol=1e-4)
    before = out.read_bytes()
    code, _, err = run_cli("predict", debug_run, "--csv", source, "--out", out)
    assert code == 2 and "already exists" in err and out.read_bytes() == before


def test_predict_rejects_a_csv_without_the_training_columns(debug_run, tmp_path):
    source = tmp_path / "other.csv"
    source.write_text("date,x\n" + "".join(f"2020-01-01 {h:02d}:00:00,{h}\n" for h in range(24)))
    code, _, err = run_cli("predict", debug_run, "--csv", source, "--out", tmp_path / "f.csv")
    assert code == 2 and "missing column(s) HUFL" in err and not (tmp_path / "f.csv").exists()


def test_a_run_never_overwrites_an_earlier_one(debug_run):
    before = digest(debug_run)
    code, _, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", f"run_dir={debug_run}")
    assert code == 2 and "already holds a run" in err and err.count("\n") == 1
    assert digest(debug_run) == before


@pytest.mark.parametrize("args, message", [
    (["data.seq_len=100"], "seq_len 100 is not a multiple of seg_len 24"),
    (["data.pred_len=100"], "pred_len 100 is not a multiple of seg_len 24"),
    (["data.pred_lem=96"], "unknown key 'data.pred_lem'"),
    (["model.backend.name=gur"], "unknown backend 'gur'; did you mean gru"),
    (["data.path=ETT-small/ETTh9.csv"], "data file ETT-small/ETTh9.csv not found under data root"),
])
def test_bad_settings_fail_with_one_line_and_no_run_dir(tmp_path, args, message):
    run_dir = tmp_path / "run"
    code, _, err = run_cli("run", ROOT / "recipes/ltsf", *args, f"run_dir={run_dir}")
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not run_dir.exists()


def test_missing_data_file_names_its_address_and_seqkit_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setitem(sk.data.root.KNOWN, "ETT-small/ETTh1.csv",
                        sk.data.root.Remote("http://127.0.0.1:9/ETTh1.csv", "0" * 64))  # port 9: refused
    code, _, err = run_cli("run", ROOT / "recipes/ltsf", f"run_dir={tmp_path / 'run'}")
    assert code == 2 and err.count("\n") == 1
    assert "ETT-small/ETTh1.csv" in err and "http://127.0.0.1:9/ETTh1.csv" in err and "SEQKIT_DATA" in err


@pytest.mark.parametrize("decoding", ["pmf", "rmf"])
def test_both_decodings_learn_on_etth1(decoding):
    torch.manual_seed(0)
    data = sk.SeriesData("ETT-small/ETTh1.csv", seq_len=96, pred_len=48, batch_size=32)
    spec = {"frontend": {"name": "segmenter", "seg_len": 24, "dim": 32},
            "backend": {"name": "segrnn", "hidden": 32, "decoding": decoding}, "head": {"name": "forecast"}}
    model = sk.build_model(spec, **data.dims)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = data.splits["train"].__getitems__(list(range(0, 3200, 100)))
    losses = []
    for _ in range(30):
        loss = model.head.loss(*model(batch["inputs"]), batch)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.8 * losses[0]


def test_command_line_errors_have_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "seqkit.cli", "run", "recipes/ltsf", "data.pred_lem=1"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown key 'data.pred_lem'") and "Traceback" not in result.stderr


def test_two_accumulated_batches_of_32_train_as_one_of_64(tmp_path, monkeypatch, data_root):
    """The recipe feeds the paper's batch of 64 as 2 x 32 (trainer.accumulate_grad_batches=2) to
    save memory: the weights after training are those of single batches of 64 (no dropout here)."""
    monkeypatch.setenv("SEQKIT_DATA", str(data_root))
    common = ["data.seq_len=96", "model.frontend.dim=64", "model.backend.hidden=64", "model.head.dropout=0.0",
              "trainer.precision=32-true", "trainer.max_epochs=1", "trainer.limit_val_batches=1",
              "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false"]
    weights = {}
    for size, parts in ((64, 1), (32, 2)):
        run_dir = tmp_path / f"{size}x{parts}"
        sk.run_recipe(ROOT / "recipes/ltsf", common + [
            f"data.batch_size={size}", f"trainer.accumulate_grad_batches={parts}",
            f"trainer.limit_train_batches={6 * parts}", f"run_dir={run_dir}"])
        checkpoint = sk.checkpoint.load_file(run_dir / "checkpoints" / "last.ckpt")
        assert checkpoint["global_step"] == 6
        weights[parts] = checkpoint["state_dict"]
    for name, value in weights[1].items():
        torch.testing.assert_close(weights[2][name], value, rtol=1e-5, atol=1e-6)
