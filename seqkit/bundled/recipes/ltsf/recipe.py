"""Long-term forecasting on ETT (or any CSV): train, restore the best checkpoint, test, report.

Run with ``seqkit run recipes/ltsf [key=value ...] [-c overlay.yaml]``; see README.md here.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

import seqkit as sk

RECIPE = Path(__file__).resolve().parent.name  # a copied recipe's runs and checkpoints carry its own name


def main(cfg) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # Data: one (T, C) tensor per split, scaled with the training rows' statistics.
    data = sk.SeriesData(**cfg.data)

    # Model: every size between blocks is derived from the data and the blocks before.
    model = sk.build_model(cfg.model, **data.dims)
    run_dir = sk.create_run_dir(cfg, RECIPE)
    info = {"recipe": RECIPE, "config": sk.to_dict(cfg), "dims": data.dims, **data.info}
    task = sk.Task(model, **cfg.train, info=info)

    # Train with early stopping on the validation loss; checkpoints go to run_dir/checkpoints.
    trainer = sk.make_trainer(cfg.trainer, run_dir)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    fit_seconds = time.perf_counter() - start

    # Test every window with the best checkpoint restored.
    test = sk.run_test(trainer, task, datamodule=data, ckpt_path="best")

    # Plot a few test windows on the original scale.
    windows = data.splits["test"]
    picks = np.linspace(0, len(windows) - 1, 4).astype(int).tolist()
    batch = windows.__getitems__(picks)
    task.eval()
    head, scaler = model.head, data.info["scaler"]
    with torch.no_grad():
        forecast = head.original(task(batch)[0], scaler).numpy()  # (N, H, C') or (N, H, C', Q)
    inputs = sk.Forecast.unscale(scaler)(batch["inputs"]).numpy()
    if data.target is not None:  # MS: of every column in, the target's
        inputs = inputs[..., data.target: data.target + 1]
    truth = head.original(batch["targets"], scaler).numpy()  # with the output columns' statistics
    band = None
    if forecast.ndim == 4:  # quantiles: the median, and the widest central interval as a band
        low, high = 0, len(head.quantiles) - 1
        band = (forecast[..., low], forecast[..., high],
                f"{head.quantiles[low]:g}-{head.quantiles[high]:g} quantiles")
        forecast = forecast[..., head.quantiles.index(0.5)]
    sk.forecast_plot(run_dir / "forecast.png", inputs, truth, forecast, columns=data.forecast_columns,
                     band=band, title=f"{data.path.name}: SegRNN forecast vs truth, L={data.seq_len} H={data.pred_len}")
    sk.loss_curves(run_dir / "loss.png", run_dir / "logs" / "metrics.csv")

    epochs = sk.history(trainer)
    metrics = {
        "test": test,
        "best_val_loss": min((e["val/loss"] for e in epochs if "val/loss" in e), default=None),
        "epochs": len(epochs),
        "fit_seconds": round(fit_seconds, 1),
        "history": epochs,
        "data": {"path": str(cfg.data.path), "seq_len": data.seq_len, "pred_len": data.pred_len,
                 "windows": {k: len(v) for k, v in data.splits.items()}},
        "seed": cfg.seed,
    }
    sk.write_json(run_dir / "metrics.json", metrics)
    coverage = "".join(f", {k.split('_')[1]} % interval covers {v:.1%}" for k, v in test.items()
                       if k.startswith("coverage_"))
    print(f"test MSE {test['mse']:.4f} MAE {test['mae']:.4f} "
          f"(original scale: MSE {test['mse_original']:.4f} MAE {test['mae_original']:.4f}){coverage}; "
          f"run: {run_dir}")
    metrics["run_dir"] = str(run_dir)
    return metrics
