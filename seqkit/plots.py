"""Plots a person looks at after a run: forecasts against the truth, loss curves, CTC posteriors,
confusion matrices."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seqkit.runs import is_main_process  # noqa: E402


def _save(fig, path: Path, dpi: int) -> None:
    """Write the figure (the main process only: in a multi-process run the others draw the same
    figure and must not write the file at the same time), then free it."""
    if is_main_process():
        fig.savefig(path, dpi=dpi)
    plt.close(fig)


def forecast_plot(path: Path, inputs: np.ndarray, truth: np.ndarray, forecast: np.ndarray,
                  columns: list[str], channel: int = -1, title: str = "",
                  band: tuple[np.ndarray, np.ndarray, str] | None = None) -> None:
    """Plot a few windows: the input's tail, the true future and the forecast of one channel.

    Args:
        path: the PNG to write.
        inputs: (N, L, C) input windows.
        truth: (N, H, C) true futures.
        forecast: (N, H, C) forecasts.
        columns: channel names.
        channel: which channel to draw (default: the last, ETT's target OT).
        title: figure title.
        band: a prediction interval to shade, ``(lower, upper, label)`` with (N, H, C) bounds.
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
        if band is not None:
            ax.fill_between(future, band[0][i, :, channel], band[1][i, :, channel], color="tab:orange",
                            alpha=0.25, lw=0, label=band[2])
        ax.axvline(0, color="0.7", lw=0.8, ls="--")
        ax.set_ylabel(columns[channel])
        if i == 0:
            ax.legend(loc="upper left", ncol=4, fontsize=8)
    axes[-1, 0].set_xlabel("steps from the forecast origin")
    fig.suptitle(title or f"forecast vs truth, {windows} test windows")
    fig.tight_layout()
    _save(fig, path, dpi=110)


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
    _save(fig, path, dpi=110)


def ctc_plot(path: Path, spectrograms: list[np.ndarray], posteriors: list[np.ndarray], hypotheses: list[str],
             references: list[str], units: list[str], frame_ms: float = 40.0) -> None:
    """For each utterance: the log-mel spectrogram above the per-frame CTC posteriors.

    Args:
        path: the PNG to write.
        spectrograms: (n_mels, T) per utterance.
        posteriors: (T', V+1) probabilities per utterance, class 0 the blank.
        hypotheses: decoded texts.
        references: true texts.
        units: names of classes 1..V.
        frame_ms: duration of one output frame, for the x axis.
    """
    rows = len(spectrograms)
    fig, axes = plt.subplots(2 * rows, 1, figsize=(10, 3.2 * rows), squeeze=False)
    for k in range(rows):
        top, bottom = axes[2 * k, 0], axes[2 * k + 1, 0]
        top.imshow(spectrograms[k], origin="lower", aspect="auto", cmap="magma")
        top.set_ylabel("mel band")
        top.set_title(f"reference: {references[k]!r}\nhypothesis: {hypotheses[k]!r}", fontsize=9, loc="left")
        probs = posteriors[k]
        frames = np.arange(len(probs))
        bottom.plot(frames, probs[:, 0], color="0.75", lw=1, label="blank")
        best = probs[:, 1:].argmax(1)
        for t in frames:  # label each frame where a unit wins
            if probs[t, best[t] + 1] > 0.5:
                bottom.annotate(repr(units[best[t]])[1:-1] or "·", (t, probs[t, best[t] + 1]), fontsize=7,
                                ha="center", va="bottom")
        bottom.plot(frames, probs[:, 1:].max(1), color="tab:blue", lw=1, label="best unit")
        bottom.set_xlim(-0.5, len(probs) - 0.5)
        bottom.set_ylim(0, 1.15)
        bottom.set_ylabel("posterior")
        bottom.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel(f"output frame ({frame_ms:g} ms)")
    fig.tight_layout()
    _save(fig, path, dpi=100)


def confusion_plot(path: Path, confusion: np.ndarray, labels: list[str], title: str = "") -> None:
    """Draw a confusion matrix (rows: true class, columns: predicted) with the count in each cell."""
    size = max(4.0, 0.55 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = confusion.max() if confusion.size else 0
    for (row, col), count in np.ndenumerate(confusion):
        if count:
            ax.text(col, row, int(count), ha="center", va="center", fontsize=8,
                    color="white" if count > high / 2 else "black")
    accuracy = np.trace(confusion) / max(1, confusion.sum())
    ax.set_title(title or f"accuracy {accuracy:.2%} over {int(confusion.sum())} utterances")
    fig.tight_layout()
    _save(fig, path, dpi=110)
