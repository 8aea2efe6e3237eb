"""A Kaldi-style data folder (``wav.scp``, ``text``, optional ``utt2spk`` and ``segments``) read into
`seqkit.data.corpus.Utterance` records; the audio is not read, only checked to exist, and a
``wav.scp`` command (``... |``) is refused, never run."""

from __future__ import annotations

import math
from pathlib import Path

from seqkit.data.corpus import Utterance
from seqkit.data.manifest import check_audio
from seqkit.errors import SeqkitError


def _table(path: Path, fields: int | None, what: str) -> dict[str, tuple[int, str]]:
    """``{key: (line, rest of the line)}`` of a Kaldi table; `fields` (with the key), None: any."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SeqkitError(f"{path}: cannot read ({' '.join(str(err).split())[:160]}); it must be UTF-8 text") from None
    table = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, rest = (line.split(None, 1) + [""])[:2]
        rest = rest.strip()
        if path.name == "wav.scp" and "|" in rest:
            raise SeqkitError(f"{path}: line {n}: {rest!r} is a shell command, and seqkit never runs commands "
                              f"from wav.scp; convert the audio to files first and list their paths")
        if not rest:
            raise SeqkitError(f"{path}: line {n}: nothing after {key!r}; write '{key} {what}' or drop the line")
        if fields is not None and len(rest.split()) != fields - 1:
            raise SeqkitError(f"{path}: line {n}: {len(rest.split()) + 1} fields, not {fields}; "
                              f"write '<id> {what}'")
        if key in table:
            raise SeqkitError(f"{path}: line {n}: {key!r} repeats line {table[key][0]}; give every line its own id")
        table[key] = (n, rest)
    return table


def _segment(path: Path, n: int, rest: str) -> tuple[str, float, float | None]:
    recording, *times = rest.split()
    try:
        start, end = (float(t) for t in times)
    except ValueError:
        start = end = math.nan
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or not (start < end or end == -1):
        raise SeqkitError(f"{path}: line {n}: start {times[0]!r} and end {times[1]!r} must be seconds with "
                          f"0 <= start < end (or end -1: the end of the recording); fix them")
    return recording, start, None if end == -1 else end


def read_kaldi(folder: Path | str) -> list[Utterance]:
    """Read a Kaldi data folder into utterances, in the order of its ``text``.

    Args:
        folder: holds ``wav.scp`` (``<recording-id> <path>``, a path relative to the folder or
            absolute; a command line ``... |`` is refused), ``text`` (``<utterance-id> <words>``),
            optionally ``utt2spk`` (``<utterance-id> <speaker>``) and ``segments``
            (``<utterance-id> <recording-id> <start> <end>`` in seconds; without it an utterance is
            a whole recording, of the same id). Every audio file must exist; none is read.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "a.wav").touch()
        >>> _ = (folder / "wav.scp").write_text("rec1 a.wav\\n")
        >>> _ = (folder / "text").write_text("rec1 YES\\n")
        >>> [(u.id, u.audio.name, u.text, u.speaker) for u in read_kaldi(folder)]
        [('rec1', 'a.wav', 'YES', '')]
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SeqkitError(f"{folder}: not a folder; give a Kaldi data folder (wav.scp, text, ...)")
    for name in ("wav.scp", "text"):
        if not (folder / name).is_file():
            raise SeqkitError(f"{folder}: no {name}; a Kaldi data folder needs wav.scp and text")
    scp = folder / "wav.scp"
    recordings = _table(scp, 2, "<path>")
    check_audio(scp, [(n, written, folder / written) for n, written in recordings.values()])
    text = _table(folder / "text", None, "<transcript words>")
    speakers = _table(folder / "utt2spk", 2, "<speaker>") if (folder / "utt2spk").is_file() else {}
    segments = folder / "segments"
    if segments.is_file():
        cuts = {}
        for utt, (n, rest) in _table(segments, 4, "<recording-id> <start> <end>").items():
            cuts[utt] = _segment(segments, n, rest)
            if cuts[utt][0] not in recordings:
                raise SeqkitError(f"{segments}: line {n}: recording {cuts[utt][0]!r} is not in {scp}; "
                                  f"add it there or drop the segment")
            if utt not in text:
                raise SeqkitError(f"{segments}: line {n}: utterance {utt!r} is not in {folder / 'text'}; "
                                  f"add its transcript or drop the segment")
    else:
        cuts = {utt: (utt, 0.0, None) for utt in text}
    utterances = []
    for utt, (n, words) in text.items():
        if utt not in cuts or cuts[utt][0] not in recordings:
            where = f"in {segments}" if segments.is_file() else f"of that id in {scp}"
            raise SeqkitError(f"{folder / 'text'}: line {n}: utterance {utt!r} has no recording {where}; "
                              f"add one or drop the line")
        recording, start, end = cuts[utt]
        audio = folder / recordings[recording][1]
        utterances.append(Utterance(utt, audio, " ".join(words.split()), speakers.get(utt, (0, ""))[1], start, end))
    return utterances
