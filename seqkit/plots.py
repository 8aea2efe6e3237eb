"""Plots a person looks at after a run: forecasts against the truth, loss curves."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def forecast_plot(path: Path, inputs: np.ndarray, truth: np.ndarray, forecast: np.ndarray,
                  columns: list[str], channel: int = -1, title: str = "") -> None:
    """Plot a few windows: the input's tail, the true future and the forecast of one channel.

    Args:
        path: the PNG to write.
        inputs: (N, L, C) input windows.
        truth: (N, H, C) true futures.
        forecast: (N, H, C) forecasts.
        columns: channel names.
        channel: which channel to draw (default: the last, ETT's target OT).
        title: figure title.
    """
    windows, horizon = truth.shape[0], truth.shape[1]
    tail = min(inputs.shape[1], 2 * horizon)
    fig, axes = plt.subplots(windows, 1, figsize=(10, 2.4 * windows), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        past = np.arange(-tail, 0)
        future = np.arange(horizon)
        ax.plot(past, inputs[i, -tail:, channel], color="0.4", lw=1, label="input")
        ax.plot(future, truth[i, :, channel], color="tab:blue", lw=1.2, label="truth")
        ax.plot(future, forecast[i, :, channel], color="tab:orange", lw=1.2, label="forecast")
        ax.axvline(0, color="0.7", lw=0.8, ls="--")
        ax.set_ylabel(columns[channel])
        if i == 0:
            ax.legend(loc="upper left", ncol=3, fontsize=8)
    axes[-1, 0].set_xlabel("steps from the forecast origin")
    fig.suptitle(title or f"forecast vs truth, {windows} test windows")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def loss_curves(path: Path, metrics_csv: Path) -> None:
    """Plot training loss per step and validation loss per epoch from Lightning's metrics.csv."""
    if not metrics_csv.is_file():
        return
    train, val = [], []
    with metrics_csv.open() as f:
        for row in csv.DictReader(f):
            if row.get("train/loss"):
                train.append((int(row["step"]), float(row["train/loss"])))
            if row.get("val/loss"):
                val.append((int(row["step"]), float(row["val/loss"])))
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), lw=1, label="train loss")
    if val:
        ax.plot(*zip(*val), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
