"""Time series from CSV: the ETT and Time-Series-Library protocols, scaling, windows by indexing.

The whole series is one (T, C) tensor; a window is cut by indexing, never by per-item Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from seqkit.data.resume import ResumableData, ShuffledBatches
from seqkit.data.root import locate
from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError

HOURS_PER_MONTH = 30 * 24
PROTOCOLS = ("auto", "ett_hour", "ett_minute", "custom")
FEATURES = ("M", "S", "MS")


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

    `__getitems__` cuts a whole batch with one indexing operation. With `target` (a column
    index) the targets hold that column only: (B, H, 1), the inputs every column.
    """

    def __init__(self, values: Tensor, seq_len: int, pred_len: int, target: int | None = None):
        self.values, self.seq_len, self.pred_len, self.target = values, seq_len, pred_len, target
        self.offsets = torch.arange(seq_len + pred_len)

    def __len__(self) -> int:
        return max(0, self.values.shape[0] - self.seq_len - self.pred_len + 1)

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        rows = torch.as_tensor(indices).unsqueeze(1) + self.offsets  # (B, L+H)
        window = self.values[rows]  # (B, L+H, C)
        future = window[:, self.seq_len:]
        if self.target is not None:
            future = future[..., self.target: self.target + 1]  # (B, H, C) -> (B, H, 1)
        return {"inputs": window[:, : self.seq_len], "targets": future}

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
        features: ``M`` uses and forecasts every column; ``S`` only the `target` column; ``MS``
            uses every column to forecast the `target` column (Time-Series-Library's MS): the
            model sees all C columns and outputs one, the metrics score that one.
        target: the target column for ``S`` and ``MS``.
        protocol: ``ett_hour``, ``ett_minute``, ``custom`` (70/10/20) or ``auto`` (from the file
            name: ETTh* hourly, ETTm* 15-minute, anything else custom).
        scale: standardise every column with the training rows' mean and std.
        ignore: columns of the CSV to leave out (text, identifiers ...); the date column is read always.
        date_format: the dates' format in strftime codes (``%d/%m/%Y %H:%M``) or ``epoch`` (Unix
            seconds); null: the one format that reads every row into increasing dates. Kept in the
            checkpoint, so that ``seqkit predict`` reads its CSV the same way.
        repeated_dates: a row whose date repeats the row before's: ``error`` (refused, naming the
            line), ``keep`` (Time-Series-Library keeps the one repeated row of Weather) or ``drop``.
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
        repeated_dates: str = "error",
    ):
        super().__init__()
        if features not in FEATURES:
            raise SeqkitError(f"data.features must be M (all columns), S (the target only) or MS (all columns "
                              f"in, the target out), got {features!r}")
        if seq_len < 1 or pred_len < 1 or batch_size < 1:
            raise SeqkitError("data.seq_len, data.pred_len and data.batch_size must be positive")
        self.path = locate(path)
        self.seed = torch.initial_seed()  # the run's seed (seed_everything): shuffles training
        if protocol == "auto":
            stem = self.path.stem
            protocol = "ett_hour" if stem.startswith("ETTh") else "ett_minute" if stem.startswith("ETTm") else "custom"
        self.seq_len, self.pred_len, self.batch_size = seq_len, pred_len, batch_size
        self.protocol, self.features = protocol, features
        self.date_format, self.repeated_dates = date_format, repeated_dates
        dates, values, columns = read_csv(self.path, target if features != "M" else None, list(ignore), date_format,
                                          repeated_dates)
        if features == "S":
            values, columns = values[:, [columns.index(target)]], [target]
        self.dates, self.columns = dates, columns
        self.target = columns.index(target) if features == "MS" else None  # the output column's index
        self.forecast_columns = [target] if features == "MS" else list(columns)  # what the model forecasts
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
            self.splits[name] = Windows(self.values[start:end], seq_len, pred_len, self.target)
            if len(self.splits[name]) == 0:
                raise SeqkitError(f"{self.path}: the {name} split ({end - start} rows) is shorter than "
                                  f"seq_len + pred_len = {seq_len + pred_len}; use shorter windows")

    @property
    def dims(self) -> dict[str, int]:
        """Sizes the model derives from the data."""
        dims = {"in_dim": len(self.columns), "channels": len(self.columns), "seq_len": self.seq_len,
                "pred_len": self.pred_len}
        return dims if self.target is None else {**dims, "target_channel": self.target}

    @property
    def info(self) -> dict:
        """What inference needs besides the weights, as plain data for the checkpoint."""
        return {"data_module": "SeriesData", "columns": list(self.columns),
                "forecast_columns": list(self.forecast_columns), "seq_len": self.seq_len,
                "scaler": {"mean": self.mean.tolist(), "std": self.std.tolist()},
                "date_format": self.date_format, "repeated_dates": self.repeated_dates}

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
