"""``seqkit predict``: forecast the steps after the end of a CSV, with their future dates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqkit.checkpoint import load_model, resolve
from seqkit.data.series import read_csv
from seqkit.errors import SeqkitError
from seqkit.model import describe, head_name


def scaled_rows(csv: Path, info: dict) -> tuple[pd.Series, np.ndarray]:
    """The dates of a CSV and its rows of the columns a forecasting checkpoint (`info`) was trained
    on, standardised with the training statistics: (rows, C), at least one window of them.

    One-line errors name the CSV: a column the model needs is missing, or too few rows."""
    dates, values, columns = read_csv(csv)
    missing = [c for c in info["columns"] if c not in columns]
    if missing:
        raise SeqkitError(f"{csv}: missing column(s) {', '.join(missing)} the model was trained on")
    seq_len = info["seq_len"]
    if len(values) < seq_len:
        raise SeqkitError(f"{csv}: {len(values)} rows, the model needs the last {seq_len}")
    values = values[:, [columns.index(c) for c in info["columns"]]]
    mean, std = np.asarray(info["scaler"]["mean"]), np.asarray(info["scaler"]["std"])
    return dates, ((values - mean) / std).astype(np.float32)


def future_dates(dates: pd.Series, steps: int, source: Path) -> pd.DatetimeIndex:
    """The `steps` timestamps after the last of `dates`, at the frequency the dates follow."""
    if len(dates) < 2:
        raise SeqkitError(f"{source}: need at least two dates to infer the frequency")
    tail = pd.DatetimeIndex(dates.iloc[-min(len(dates), 200):])
    if not tail.is_monotonic_increasing or tail.has_duplicates:
        raise SeqkitError(f"{source}: dates must be strictly increasing to infer the frequency")
    freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is None:  # irregular tail: step by the most common gap
        freq = pd.Series(np.diff(tail.asi8)).mode().iloc[0]
        return pd.DatetimeIndex([tail[-1] + pd.Timedelta(int(freq) * (i + 1)) for i in range(steps)])
    return pd.date_range(tail[-1], periods=steps + 1, freq=freq)[1:]


def forecast_csv(checkpoint: str | Path, csv: str | Path, out: str | Path | None = None) -> Path:
    """Forecast the ``pred_len`` steps after the end of `csv` and write them as CSV with dates.

    Args:
        checkpoint: a forecasting checkpoint (or its run directory).
        csv: a CSV with a ``date`` column and the columns the model was trained on.
        out: the CSV to write (default ``<csv name>_forecast.csv`` in the current folder); an
            existing file is never overwritten.
    """
    csv = Path(csv)
    if not csv.is_file():
        raise SeqkitError(f"CSV {csv} not found")
    out = Path(out) if out else Path(f"{csv.stem}_forecast.csv")
    if out.exists():
        raise SeqkitError(f"{out} already exists; pass another --out")
    if not out.parent.is_dir():
        raise SeqkitError(f"--out {out}: folder {out.parent} does not exist; create it or pass another --out")
    model, info = load_model(resolve(checkpoint))
    if head_name(model) != "forecast":
        raise SeqkitError(f"{checkpoint} is {describe(model)}, not a forecasting one")
    dates, rows = scaled_rows(csv, info)
    window = torch.from_numpy(rows[-info["seq_len"]:]).unsqueeze(0)  # (1, L, C)
    mean, std = np.asarray(info["scaler"]["mean"]), np.asarray(info["scaler"]["std"])
    with torch.no_grad():
        forecast = model(window)[0][0].numpy() * std + mean  # (H, C) on the original scale
    stamps = future_dates(dates, forecast.shape[0], csv)
    frame = pd.DataFrame(forecast, columns=info["columns"])
    frame.insert(0, "date", stamps.strftime("%Y-%m-%d %H:%M:%S"))
    partial = out.with_name(f".{out.name}.partial")  # renamed when complete: never half a forecast
    frame.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(out)
    return out
