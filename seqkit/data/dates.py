"""The date column of a series CSV: its format inferred from the whole column, and written back in it.

A format is read from a few rows (day first and month first where both fit), and the one that
reads every row into increasing dates, at the most regular steps, is taken; a column that two
formats read equally well is refused with the setting that decides. Dates with UTC offsets
(``+02:00``, ``Z``) are converted to UTC, so a daylight-saving change of offset is no gap; an
all-integer column is Unix epoch seconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import timedelta, timezone

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from seqkit.errors import SeqkitError

EPOCH = "epoch"  # the date_format of Unix epoch seconds (1467331200 is 2016-07-01 00:00:00 UTC)
OFFSET = r"(Z|[+-]\d\d:?\d\d)$"
HINT = "set data.date_format (predict: --date-format), e.g. data.date_format='%d/%m/%Y %H:%M' or epoch (Unix seconds)"


def parse(texts: pd.Series, fmt: str) -> pd.Series:
    """`texts` read as dates in `fmt` (strftime codes, or ``epoch``); NaT where a text does not fit.

    Example:
        >>> parse(pd.Series(["1467331200", "x"]), "epoch").tolist()
        [Timestamp('2016-07-01 00:00:00'), NaT]
    """
    if fmt == EPOCH:
        whole = texts.str.fullmatch(r"-?\d{1,12}")
        return pd.to_datetime(pd.to_numeric(texts.where(whole), errors="coerce"), unit="s", errors="coerce")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' advice on formats: the choice is made here
        try:
            return pd.to_datetime(texts, format=fmt, errors="coerce", utc="%z" in fmt)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us]")


def candidates(texts: pd.Series) -> list[str]:
    """The formats a few rows of `texts` fit, month first and day first (never year-day-month)."""
    formats = []
    for text in dict.fromkeys(texts.iloc[[0, len(texts) // 2, -1]]):
        for dayfirst in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas' advice on dayfirst: the format is chosen from every row
                fmt = guess_datetime_format(str(text).strip(), dayfirst=dayfirst)
            if fmt and fmt not in formats and not ("%Y" in fmt and fmt.index("%Y") < fmt.index("%d") < fmt.index("%m")):
                formats.append(fmt)
    if pd.Series(texts.iloc[[0, -1]]).str.fullmatch(r"-?\d{1,12}").all():
        formats.append(EPOCH)
    return formats


def regular(dates: pd.Series) -> bool:
    """Whether `dates` follow one step or a calendar frequency (month starts ...)."""
    stamps = pd.DatetimeIndex(dates)
    return len(stamps) < 3 or np.unique(np.diff(stamps.asi8)).size == 1 or pd.infer_freq(stamps) is not None


def first_nat(dates: pd.Series) -> int:
    missing = np.flatnonzero(dates.isna().to_numpy())
    return int(missing[0]) if missing.size else len(dates)


def read_dates(texts: pd.Series, date_format: str | None, where: Callable[[int], str]) -> pd.Series:
    """The dates of the column `texts`, in `date_format` or the one format that reads every row.

    ``attrs["format"]`` and ``attrs["offset"]`` (the last row's UTC offset as written, or None)
    keep how they were written; dates with offsets come back in UTC. Errors start with
    ``where(row)`` (the file, and the line of the row) or ``where(-1)`` (the file only).
    """
    readings = {fmt: parse(texts, fmt) for fmt in ([date_format] if date_format else candidates(texts))}
    complete = {fmt: dates for fmt, dates in readings.items() if not dates.isna().any()}
    if not complete:
        fmt = max(readings, key=lambda f: first_nat(readings[f])) if readings else None
        row = first_nat(readings[fmt]) if fmt else 0
        how = f" in the format {fmt}" + (" (data.date_format)" if date_format else " of the rows before" if row else "")
        raise SeqkitError(f"{where(row)}, column date: {texts.iloc[row]!r} is not a date{how if fmt else ''}; "
                          f"write every date in one format (e.g. 2016-07-01 00:00:00) or {HINT}")
    increasing = {f: d for f, d in complete.items() if (np.diff(pd.DatetimeIndex(d).asi8) > 0).all()}
    if len(increasing) > 1:  # two readings (day or month first): the regular one, or a refusal
        steps = {f: (not regular(d), np.unique(np.diff(pd.DatetimeIndex(d).asi8)).size) for f, d in increasing.items()}
        best = sorted(steps, key=steps.get)
        if steps[best[0]] == steps[best[1]] and not increasing[best[0]].equals(increasing[best[1]]):
            raise SeqkitError(f"{where(-1)}: column date: the dates ({texts.iloc[0]!r} ...) read as {best[0]} "
                              f"and as {best[1]} alike; set the one meant: "
                              + " or ".join(f"data.date_format='{f}'" for f in sorted(best[:2]))
                              + " (predict: --date-format)")
        increasing = {best[0]: increasing[best[0]]}
    fmt, dates = next(iter(increasing.items() or complete.items()))  # not increasing: read_csv names the row
    offset = None
    if "%z" in fmt:
        offsets = texts.str.strip().str.extract(OFFSET)[0]
        utc = offsets == "Z"
        if utc.any() and not utc.all():
            row = int(np.flatnonzero((utc != utc.iloc[0]).to_numpy())[0])
            raise SeqkitError(f"{where(row)}, column date: Mixed timezones: {texts.iloc[row]!r} after "
                              f"{texts.iloc[0]!r}; write every date in one time zone (UTC offsets that change "
                              f"at daylight saving are fine)")
        offset = offsets.iloc[-1]
    dates = pd.Series(dates, name="date")
    dates.attrs.update(format=fmt, offset=offset)
    return dates


def write_dates(stamps: pd.DatetimeIndex, like: pd.Series) -> list[str]:
    """`stamps` as text in the format (and at the last UTC offset) of the dates `like` were read from.

    Example:
        >>> like = read_dates(pd.Series(["2016-07-01", "2016-07-02"]), None, str)
        >>> write_dates(pd.date_range("2016-07-03", periods=2, freq="D"), like)
        ['2016-07-03', '2016-07-04']
    """
    fmt, offset = like.attrs.get("format", "%Y-%m-%d %H:%M:%S"), like.attrs.get("offset")
    if fmt == EPOCH:
        return [str(s) for s in stamps.as_unit("s").asi8]
    if offset is None or not fmt.endswith("%z"):
        return list(stamps.strftime(fmt))
    sign, digits = (1, "0000") if offset == "Z" else (-1 if offset[0] == "-" else 1, offset[1:].replace(":", ""))
    zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return [text + offset for text in stamps.tz_convert(zone).strftime(fmt[:-2])]
