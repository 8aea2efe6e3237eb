"""``seqkit predict``: forecast the steps after the end of a CSV, with their future dates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqkit.checkpoint import load_model, resolve
from seqkit.data.dates import write_dates
from seqkit.data.seriesfile import file_line, read_csv
from seqkit.errors import SeqkitError
from seqkit.model import describe, head_name


def scaled_rows(csv: Path, info: dict, date_format: str | None = None) -> tuple[pd.Series, np.ndarray]:
    """The dates of a CSV and its rows of the columns a forecasting checkpoint (`info`) was trained
    on, standardised with the training statistics: (rows, C), at least one window of them.

    Any other column is left out, as training left out the columns it did not use. The dates are
    read in `date_format`, else in the training data's (if one was set), else in the one format
    that fits the column. One-line errors name the CSV: a column the model needs is missing, or
    too few rows."""
    try:
        header = list(pd.read_csv(csv, nrows=0, encoding="utf-8-sig").columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        header = []  # read_csv names what is wrong with the file
    missing = [c for c in info["columns"] if header and c not in header]
    if missing:
        raise SeqkitError(f"{csv}: missing column(s) {', '.join(missing)} the model was trained on")
    ignore = [c for c in header if c != "date" and c not in info["columns"]]
    dates, values, columns = read_csv(csv, ignore=ignore, date_format=date_format or info.get("date_format"),
                                      repeated_dates=info.get("repeated_dates", "error"))
    seq_len = info["seq_len"]
    if len(values) < seq_len:
        raise SeqkitError(f"{csv}: {len(values)} rows, the model needs the last {seq_len}")
    values = values[:, [columns.index(c) for c in info["columns"]]]
    mean, std = np.asarray(info["scaler"]["mean"]), np.asarray(info["scaler"]["std"])
    return dates, ((values - mean) / std).astype(np.float32)


def future_dates(dates: pd.Series, steps: int, source: Path) -> pd.DatetimeIndex:
    """The `steps` timestamps after the last of `dates`, at the one step (or calendar frequency,
    e.g. month starts) the last dates follow; dates at uneven steps are refused, not guessed at."""
    if len(dates) < 2:
        raise SeqkitError(f"{source}: need at least two dates to infer the frequency")
    tail = pd.DatetimeIndex(dates.iloc[-min(len(dates), 200):])
    if not tail.is_monotonic_increasing or tail.has_duplicates:
        raise SeqkitError(f"{source}: dates must be strictly increasing to infer the frequency")
    freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    try:
        if freq is not None:
            return pd.date_range(tail[-1], periods=steps + 1, freq=freq)[1:]
        gaps = tail[1:] - tail[:-1]
        uneven = np.flatnonzero(gaps != gaps[-1])
        if uneven.size:
            row = len(dates) - len(tail) + int(uneven[-1]) + 1
            raise SeqkitError(f"{source}: the dates are not evenly spaced (line {file_line(source, row)}: "
                              f"{gaps[uneven[-1]]} after the row before, the last rows: {gaps[-1]}), so the "
                              f"forecast's dates are unknown; resample the series to one step or fill the gaps")
        return pd.DatetimeIndex([tail[-1] + gaps[-1] * (i + 1) for i in range(steps)])
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise SeqkitError(f"{source}: the forecast's dates pass the year {pd.Timestamp.max.year} at a step of "
                          f"{tail[-1] - tail[-2]}; check the date column (and data.date_format)") from None


def forecast_columns(info: dict) -> list[str]:
    """The columns a forecasting checkpoint forecasts: every column, or the target of features MS
    (checkpoints from before MS record only ``columns``)."""
    return list(info.get("forecast_columns", info["columns"]))


def output_columns(head, info: dict) -> list[str]:
    """The names of a forecasting model's outputs: its `forecast_columns`, and for a quantile model
    one per column and quantile, e.g. ``OT_q0.1``."""
    columns = forecast_columns(info)
    if not head.quantiles:
        return list(columns)
    return [f"{c}_q{q:g}" for c in columns for q in head.quantiles]


def forecast_csv(checkpoint: str | Path, csv: str | Path, out: str | Path | None = None,
                 date_format: str | None = None) -> Path:
    """Forecast the ``pred_len`` steps after the end of `csv` and write them as CSV with dates.

    Args:
        checkpoint: a forecasting checkpoint (or its run directory).
        csv: a CSV with a ``date`` column and the columns the model was trained on.
        out: the CSV to write (default ``<csv name>_forecast.csv`` in the current folder); an
            existing file is never overwritten.
        date_format: the format of `csv`'s dates (strftime codes, or ``epoch``); default: the
            training data's, else inferred. The forecast's dates are written in the same format,
            at the UTC offset of the last row.
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
    dates, rows = scaled_rows(csv, info, date_format)
    window = torch.from_numpy(rows[-info["seq_len"]:]).unsqueeze(0)  # (1, L, C)
    with torch.no_grad():
        forecast = model.head.original(model(window)[0], info["scaler"])[0].numpy()
    # (H, C') on the original scale, or (H, C', Q) for a quantile model; C' = C, or the target of MS
    stamps = future_dates(dates, forecast.shape[0], csv)
    frame = pd.DataFrame(forecast.reshape(forecast.shape[0], -1), columns=output_columns(model.head, info))
    frame.insert(0, "date", write_dates(stamps, dates))
    partial = out.with_name(f".{out.name}.partial")  # renamed when complete: never half a forecast
    frame.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(out)
    return out
