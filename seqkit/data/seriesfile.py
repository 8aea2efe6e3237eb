"""Reading a time-series CSV: a ``date`` column and numeric columns, every bad value named by line.

Repeated dates (a row whose date equals the row before's) are refused by default, since windows
cut across them mix up time; ``repeated_dates`` keeps them (the published Weather file holds one
exact duplicate row that every paper keeps) or drops the later rows.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from seqkit.data.dates import read_dates
from seqkit.errors import SeqkitError

REPEATED_DATES = ("error", "keep", "drop")


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
             date_format: str | None = None,
             repeated_dates: str = "error") -> tuple[pd.Series, np.ndarray, list[str]]:
    """Read a CSV with a ``date`` column and numeric columns; fail on the first bad value.

    Returns the dates, the values (T, C) as float64 and the value columns' names. The columns
    named in `ignore` are left out. The dates are read in `date_format` (strftime codes, or
    ``epoch`` for Unix seconds) or else in the one format that reads every row into increasing
    dates (`seqkit.data.dates`); dates with UTC offsets are converted to UTC, so a file that
    crosses a daylight-saving change (+02:00, then +01:00) reads as one series;
    ``dates.attrs`` keeps the format and the last offset, to write a forecast's dates as the
    input's. A date equal to the row before's is refused (`repeated_dates` ``error``), kept
    (``keep``) or its row left out (``drop``, the first of the rows with that date stays); a date
    earlier than the row before's is always refused. Errors name the file, the column and the
    line of the file.
    """
    if repeated_dates not in REPEATED_DATES:
        raise SeqkitError(f"data.repeated_dates must be one of {', '.join(REPEATED_DATES)}, got {repeated_dates!r}")
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
    gaps = np.diff(stamps)
    step = np.flatnonzero(gaps < 0 if repeated_dates != "error" else gaps <= 0)
    if step.size:  # windows cut across unordered or repeated rows would mix up time
        row = int(step[0]) + 1
        repeat = stamps[row] == stamps[row - 1]
        how = "repeats the date of" if repeat else "is earlier than"
        fix = ("drop the repeated row, or set data.repeated_dates=keep (or drop) to accept it" if repeat
               else "sort the rows by date")
        raise SeqkitError(f"{path}: line {file_line(path, row)}, column date: {frame['date'].iloc[row]!r} {how} line "
                          f"{file_line(path, row - 1)} ({frame['date'].iloc[row - 1]!r}); {fix}")
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
    if repeated_dates == "drop" and (gaps == 0).any():  # after the checks, whose lines count every row
        kept = np.concatenate([[True], gaps != 0])
        attrs = dict(dates.attrs)
        dates, values = dates[kept].reset_index(drop=True), values[kept]
        dates.attrs.update(attrs)
    return dates, values, columns
