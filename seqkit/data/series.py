"""Time series from CSV: the ETT and Time-Series-Library protocols, scaling, windows by indexing.

The whole series is one (T, C) tensor; a window is cut by indexing, never by per-item Python.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from seqkit.data.dates import read_dates
from seqkit.data.resume import ResumableData, ShuffledBatches
from seqkit.data.root import locate
from seqkit.errors import SeqkitError

HOURS_PER_MONTH = 30 * 24
PROTOCOLS = ("auto", "ett_hour", "ett_minute", "custom")


def file_line(path: Path, row: int) -> int:
    r"""The line of the file `path` where data row `row` (0-based, as pandas reads them: blank lines
    skipped, quoted fields may span lines) starts; for error messages.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "gaps.csv"
        >>> _ = path.write_text("date,a\n2020-01-01,1\n\n2020-01-02,x\n")
        >>> file_line(path, 1)
        4
    """
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        next(reader, None)  # the header
        count, end = -1, reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line: pandas skips it
            count += 1
            if count == row:
                return start
    return row + 2


def read_csv(path: Path, target: str | None = None, ignore: Sequence[str] = (),
             date_format: str | None = None) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Read a CSV with a ``date`` column and numeric columns; fail on the first bad value.

    Returns the dates, the values (T, C) as float64 and the value columns' names. The columns
    named in `ignore` are left out. The dates are read in `date_format` (strftime codes, or
    ``epoch`` for Unix seconds) or else in the one format that reads every row into increasing
    dates (`seqkit.data.dates`); dates with UTC offsets are converted to UTC, so a file that
    crosses a daylight-saving change (+02:00, then +01:00) reads as one series;
    ``dates.attrs`` keeps the format and the last offset, to write a forecast's dates as the
    input's. Errors name the file, the column and the line of the file.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        with open(path, encoding="utf-8-sig", newline="") as file:  # the names as written: pandas renames repeats
            header = next(csv.reader(file), [])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error, OSError) as err:
        raise SeqkitError(f"{path}: cannot read as CSV ({' '.join(str(err).split())[:160]}); "
                          f"it must be comma-separated UTF-8 text with one field per header column") from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas takes a surplus first field for an index
        raise SeqkitError(f"{path}: the rows have more fields than the header's {len(header)}; "
                          f"name every column in the first line")
    for k, name in enumerate(header):
        if not name.strip():
            raise SeqkitError(f"{path}: column {k + 1} of the header has no name; name every column")
        if name in header[:k]:
            raise SeqkitError(f"{path}: column {name!r} appears twice in the header; rename or drop one")
    if "date" not in frame.columns:
        raise SeqkitError(f"{path}: no 'date' column (columns: {', '.join(map(str, frame.columns))}); "
                          f"the first column must be named date")
    columns = [c for c in frame.columns if c != "date"]
    for name in ignore:
        if name not in columns:
            raise SeqkitError(f"data.ignore: {path} has no value column {name!r} to leave out "
                              f"(columns: {', '.join(columns)})")
    columns = [c for c in columns if c not in ignore]
    if not columns:
        raise SeqkitError(f"{path}: no value columns beside 'date'" + (" once data.ignore is left out" * bool(ignore)))
    if target is not None and target not in columns:
        raise SeqkitError(f"{path}: target column {target!r} not found (columns: {', '.join(columns)})")
    if len(frame) == 0:
        raise SeqkitError(f"{path}: no data rows")
    dates = read_dates(frame["date"], date_format, lambda row: f"{path}: line {file_line(path, row)}" if row >= 0
                       else str(path))
    stamps = pd.DatetimeIndex(dates).asi8
    step = np.flatnonzero(np.diff(stamps) <= 0)
    if step.size:  # windows cut across unordered or repeated rows would mix up time
        row = int(step[0]) + 1
        how = "repeats the date of" if stamps[row] == stamps[row - 1] else "is earlier than"
        raise SeqkitError(f"{path}: line {file_line(path, row)}, column date: {frame['date'].iloc[row]!r} {how} line "
                          f"{file_line(path, row - 1)} "
                          f"({frame['date'].iloc[row - 1]!r}); sort the rows by date and drop repeated dates")
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, copy=True)
        bad = ~np.isfinite(numbers)
        if bad.any():  # stripping every value is slow on a million rows: only the ones that failed
            numbers[bad] = pd.to_numeric(frame[column][bad].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(numbers)
        if bad.all() and len(bad) > 1:  # not one bad value: a column of text (notes, labels ...)
            what = ("has no values" if (frame[column].str.strip() == "").all() else
                    f"is a text column, not numbers (line {file_line(path, 0)}: {frame[column].iloc[0]!r})")
            raise SeqkitError(f"{path}: column {column} {what}; leave it out with data.ignore=[{column}]")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SeqkitError(f"{path}: line {file_line(path, row)}, column {column}: {frame[column].iloc[row]!r} "
                              f"is not a finite number; fill or drop that row")
        values[:, j] = numbers
    return dates, values, columns


def borders(protocol: str, rows: int, seq_len: int) -> list[tuple[int, int]]:
    """Row ranges ``[(start, end)]`` of train, validation and test, as in the reference code.

    Each split's windows may reach back ``seq_len`` rows across its border for their input.
    ``ett_hour``: 12/4/4 months of hourly rows; ``ett_minute``: the same at 15 minutes (x4);
    ``custom``: a chronological 70/10/20 split.

    Example:
        >>> borders("ett_hour", 17420, 720)
        [(0, 8640), (7920, 11520), (10800, 14400)]
    """
    if protocol in ("ett_hour", "ett_minute"):
        month = HOURS_PER_MONTH * (4 if protocol == "ett_minute" else 1)
        ends = [12 * month, 16 * month, 20 * month]
        if rows < ends[-1]:
            raise SeqkitError(f"the {protocol} protocol needs {ends[-1]} rows, the file has {rows}; "
                              f"use data.protocol=custom")
    elif protocol == "custom":
        train, test = int(rows * 0.7), int(rows * 0.2)
        ends = [train, rows - test, rows]
    else:
        raise SeqkitError(f"data.protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    starts = [0, ends[0] - seq_len, ends[1] - seq_len]
    return list(zip(starts, ends))


class Windows(Dataset):
    """All windows of one split: input ``seq_len`` rows, then ``pred_len`` target rows.

    `__getitems__` cuts a whole batch with one indexing operation.
    """

    def __init__(self, values: Tensor, seq_len: int, pred_len: int):
        self.values, self.seq_len, self.pred_len = values, seq_len, pred_len
        self.offsets = torch.arange(seq_len + pred_len)

    def __len__(self) -> int:
        return max(0, self.values.shape[0] - self.seq_len - self.pred_len + 1)

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        rows = torch.as_tensor(indices).unsqueeze(1) + self.offsets  # (B, L+H)
        window = self.values[rows]  # (B, L+H, C)
        return {"inputs": window[:, : self.seq_len], "targets": window[:, self.seq_len:]}

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def _batch(batch: dict) -> dict:
    return batch  # __getitems__ already built the batch


class SeriesData(ResumableData, L.LightningDataModule):
    """Windows of a CSV series split by a forecasting protocol, scaled with training statistics.

    Args:
        path: the CSV, absolute or under the data root (see `seqkit.data.root`).
        seq_len: input steps per window (look-back L).
        pred_len: steps to forecast (horizon H).
        batch_size: windows per batch.
        features: ``M`` uses and forecasts every column; ``S`` only the `target` column.
        target: the target column for ``S``.
        protocol: ``ett_hour``, ``ett_minute``, ``custom`` (70/10/20) or ``auto`` (from the file
            name: ETTh* hourly, ETTm* 15-minute, anything else custom).
        scale: standardise every column with the training rows' mean and std.
        ignore: columns of the CSV to leave out (text, identifiers ...); the date column is read always.
        date_format: the dates' format in strftime codes (``%d/%m/%Y %H:%M``) or ``epoch`` (Unix
            seconds); null: the one format that reads every row into increasing dates. Kept in the
            checkpoint, so that ``seqkit predict`` reads its CSV the same way.
    """

    def __init__(
        self,
        path: str,
        seq_len: int = 720,
        pred_len: int = 96,
        batch_size: int = 64,
        features: str = "M",
        target: str = "OT",
        protocol: str = "auto",
        scale: bool = True,
        ignore: Sequence[str] = (),
        date_format: str | None = None,
    ):
        super().__init__()
        if features not in ("M", "S"):
            raise SeqkitError(f"data.features must be M (all columns) or S (the target only), got {features!r}")
        if seq_len < 1 or pred_len < 1 or batch_size < 1:
            raise SeqkitError("data.seq_len, data.pred_len and data.batch_size must be positive")
        self.path = locate(path)
        self.seed = torch.initial_seed()  # the run's seed (seed_everything): shuffles training
        if protocol == "auto":
            stem = self.path.stem
            protocol = "ett_hour" if stem.startswith("ETTh") else "ett_minute" if stem.startswith("ETTm") else "custom"
        self.seq_len, self.pred_len, self.batch_size = seq_len, pred_len, batch_size
        self.protocol, self.features = protocol, features
        self.date_format = date_format
        dates, values, columns = read_csv(self.path, target if features == "S" else None, list(ignore), date_format)
        if features == "S":
            values, columns = values[:, [columns.index(target)]], [target]
        self.dates, self.columns = dates, columns
        self.borders = borders(protocol, len(values), seq_len)
        train = values[self.borders[0][0]: self.borders[0][1]]
        if scale:  # in float64, as scikit-learn's StandardScaler of the reference code
            self.mean, self.std = train.mean(0), train.std(0)
            self.std[self.std == 0] = 1.0  # a constant column stays constant
        else:
            self.mean, self.std = np.zeros(len(columns)), np.ones(len(columns))
        self.values = torch.from_numpy((values - self.mean) / self.std).float()  # (T, C)
        self.splits = {}
        for name, (start, end) in zip(("train", "val", "test"), self.borders):
            self.splits[name] = Windows(self.values[start:end], seq_len, pred_len)
            if len(self.splits[name]) == 0:
                raise SeqkitError(f"{self.path}: the {name} split ({end - start} rows) is shorter than "
                                  f"seq_len + pred_len = {seq_len + pred_len}; use shorter windows")

    @property
    def dims(self) -> dict[str, int]:
        """Sizes the model derives from the data."""
        return {"in_dim": len(self.columns), "channels": len(self.columns), "seq_len": self.seq_len,
                "pred_len": self.pred_len}

    @property
    def info(self) -> dict:
        """What inference needs besides the weights, as plain data for the checkpoint."""
        return {"data_module": "SeriesData", "columns": list(self.columns), "seq_len": self.seq_len,
                "scaler": {"mean": self.mean.tolist(), "std": self.std.tolist()}, "date_format": self.date_format}

    def _loader(self, split: str, shuffle: bool = False, drop_last: bool = False) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.batch_size, shuffle=shuffle,
                          drop_last=drop_last, collate_fn=_batch)

    def train_dataloader(self) -> DataLoader:
        # As the reference code: shuffled, incomplete last batch dropped (training only); the order
        # of each epoch follows from (seed, epoch), so that a checkpoint resumes it exactly.
        size = len(self.splits["train"])
        batches = ShuffledBatches(size, self.batch_size, drop_last=size > self.batch_size, seed=self.seed)
        return DataLoader(self.splits["train"], batch_sampler=self.resumable(batches), collate_fn=_batch,
                          generator=torch.Generator())  # not the global generator: see seqkit.data.resume

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")  # every window: no batch dropped
