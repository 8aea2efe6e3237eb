"""A manifest (TSV, CSV or JSON lines: one utterance a row, with its audio path and transcript) read
into `seqkit.data.corpus.Utterance` records; the audio is not read, only checked to exist."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from seqkit.data.corpus import Utterance
from seqkit.errors import SeqkitError

DELIMITERS = {".tsv": "\t", ".csv": ","}
JSON_SUFFIXES = (".jsonl", ".json")


def check_audio(source: Path, entries: list[tuple[int, str, Path]]) -> None:
    """Fail with one line if any audio file of `entries` (line, path as written, path) does not
    exist: how many of the distinct files are missing, and the first three with their lines."""
    files = {}
    for line, written, path in entries:
        files.setdefault(path, (line, written))
    missing = [f"line {line} {written!r}" for path, (line, written) in files.items() if not path.is_file()]
    if missing:
        raise SeqkitError(f"{len(missing)} of {len(files)} audio files in {source} do not exist, first: "
                          f"{', '.join(missing[:3])}; fix the paths (relative ones are read from {source.parent})")


def _rows(path: Path) -> list[tuple[int, dict]]:
    """The data rows of the manifest as (line, {key: value}); fails on its structure."""
    suffix = path.suffix.lower()
    if suffix not in DELIMITERS and suffix not in JSON_SUFFIXES:
        raise SeqkitError(f"{path}: a manifest ends in .tsv, .csv, .jsonl or .json, not {suffix or 'nothing'}; "
                          f"rename it to say its format")
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            if suffix in JSON_SUFFIXES:
                return [(n, _object(path, n, line)) for n, line in enumerate(file, 1) if line.strip()]
            reader = csv.reader(file, delimiter=DELIMITERS[suffix])
            header = [name.strip() for name in next(reader, [])]
            for name in ("audio", "text"):
                if name not in header:
                    raise SeqkitError(f"{path}: line 1: no {name!r} column (columns: {', '.join(header) or 'none'}); "
                                      f"the header must name the columns audio and text")
            rows, end = [], reader.line_num
            for record in reader:
                start, end = end + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line
                if len(record) != len(header):
                    raise SeqkitError(f"{path}: line {start}: {len(record)} fields, the header has {len(header)} "
                                      f"({', '.join(header)}); give every row one field per column")
                rows.append((start, dict(zip(header, record))))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SeqkitError(f"{path}: cannot read the manifest ({' '.join(str(err).split())[:160]}); "
                          f"it must be UTF-8 text") from None


def _object(path: Path, n: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise SeqkitError(f"{path}: line {n}: not JSON ({err.msg}, column {err.colno}); "
                          f"write one JSON object a line") from None
    if not isinstance(row, dict):
        raise SeqkitError(f"{path}: line {n}: a JSON {type(row).__name__}, not an object; "
                          f'write one object a line, like {{"audio": "a.wav", "text": "yes"}}')
    for name in ("audio", "text"):
        if name not in row:
            raise SeqkitError(f"{path}: line {n}: no {name!r} key (keys: {', '.join(row) or 'none'}); "
                              f"every object needs the keys audio and text")
    return {key: "" if value is None else str(value) for key, value in row.items()}


def _seconds(path: Path, n: int, row: dict, name: str) -> float | None:
    value = row.get(name, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise SeqkitError(f"{path}: line {n}, column {name}: {value!r} is not a number of seconds; fix or empty it")
    return seconds


def read_manifest(path: Path | str) -> list[Utterance]:
    """Read a manifest into utterances, in its order.

    Args:
        path: a ``.tsv`` (tab-separated) or ``.csv`` file with a header row, or a ``.jsonl`` /
            ``.json`` file of one JSON object a line. Keys: ``audio`` (a path, relative to the
            manifest's folder unless absolute) and ``text``; optional ``speaker``, ``duration``
            (seconds, > 0; only checked), ``start`` and ``end`` (seconds within the file,
            0 <= start < end) and ``id`` (else the audio's stem, plus ``-<start>`` when start is
            given, made unique). Every audio file must exist; none is read.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "a.wav").touch()
        >>> _ = (folder / "m.tsv").write_text("audio\\ttext\\tstart\\na.wav\\tyes\\t\\na.wav\\tno\\t1.5\\n")
        >>> [(u.id, u.audio.name, u.text, u.start) for u in read_manifest(folder / "m.tsv")]
        [('a', 'a.wav', 'yes', 0.0), ('a-1.5', 'a.wav', 'no', 1.5)]
    """
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise SeqkitError(f"{path}: no utterances in the manifest; add one row per utterance")
    audio = [(n, row["audio"].strip(), path.parent / row["audio"].strip()) for n, row in rows]
    for n, written, _ in audio:
        if not written:
            raise SeqkitError(f"{path}: line {n}, column audio: empty; give the audio file's path")
    check_audio(path, audio)
    given = {}
    for n, row in rows:
        name = row.get("id", "").strip()
        if name in given:
            raise SeqkitError(f"{path}: line {n}, column id: {name!r} repeats line {given[name]}; "
                              f"give every utterance its own id")
        if name:
            given[name] = n
    taken, utterances = set(given), []
    for (n, row), (_, _, file) in zip(rows, audio):
        text = " ".join(row["text"].split())
        if not text:
            raise SeqkitError(f"{path}: line {n}, column text: empty transcript; write what is said or drop the row")
        start, end, duration = (_seconds(path, n, row, name) for name in ("start", "end", "duration"))
        if duration is not None and duration <= 0:
            raise SeqkitError(f"{path}: line {n}, column duration: {duration:g} seconds; it must be > 0 (or empty)")
        if (start or 0.0) < 0 or (end is not None and end <= (start or 0.0)):
            raise SeqkitError(f"{path}: line {n}, columns start/end: {start or 0.0:g} to {end:g}; "
                              f"0 <= start < end is needed" if end is not None else
                              f"{path}: line {n}, column start: {start:g} is negative; it must be >= 0")
        name = row.get("id", "").strip()
        if not name:
            base = file.stem + ("" if start is None else "-" + f"{start:.3f}".rstrip("0").rstrip("."))
            name, k = base, 1
            while name in taken:
                k += 1
                name = f"{base}-{k}"
            taken.add(name)
        utterances.append(Utterance(name, file, text, row.get("speaker", "").strip(), start or 0.0, end))
    return utterances
