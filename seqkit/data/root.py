"""Where data sets live: the data root, known files' upstream addresses, verified downloads.

The data root is ``--data-root`` (which sets ``SEQKIT_DATA``), else the ``SEQKIT_DATA``
environment variable, else a per-user cache folder. A known file missing from the root is
downloaded from its upstream address and kept only if its SHA-256 matches; a known data folder
(FSDD's recordings) comes as an archive, verified the same way, then extracted member by member
after checking that none would land outside the folder it is extracted to.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pooch

from seqkit.errors import SeqkitError


@dataclass(frozen=True)
class Remote:
    """A data file's upstream address and SHA-256."""

    url: str
    sha256: str


@dataclass(frozen=True)
class Unhosted:
    """A data file with no stable upstream address: where a user gets it, and its SHA-256."""

    source: str
    sha256: str


@dataclass(frozen=True)
class Archive:
    """An archive's upstream address and SHA-256, and the folder inside it that becomes a data folder."""

    url: str
    sha256: str
    folder: str  # a folder inside the archive, e.g. "free-spoken-digit-dataset-1.0.9/recordings"


# Files the bundled recipes use, by their path under the data root.
KNOWN: dict[str, Remote] = {
    "ETT-small/ETTh1.csv": Remote(
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    ),
    "ETT-small/ETTh2.csv": Remote(
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh2.csv",
        "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
    ),
    "ETT-small/ETTm1.csv": Remote(
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTm1.csv",
        "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
    ),
    "ETT-small/ETTm2.csv": Remote(
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTm2.csv",
        "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
    ),
    "tinyshakespeare/input.txt": Remote(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}

# Files the recipes use that have no stable upstream file address: where to get them, and the
# SHA-256 of the copy the published results use.
UNHOSTED: dict[str, Unhosted] = {
    "weather/weather.csv": Unhosted(
        "Autoformer's data release (weather/weather.csv, as redistributed with Time-Series-Library's data "
        "archive)", "34ee981d07313e51da2a50bb600072c8ae4a69cb4b0651f4cb93a069d7a2ba63"),
}

# Folders the bundled recipes use, by their path under the data root. FSDD v1.0.9, the newest tag
# with a published SHA-256 (TensorFlow Datasets records it). Its speakers are not the 5 of the
# copy the benchmarks and README figures use (george, jackson, lucas, nicolas, yweweler, from
# v1.0.10 or later): a downloaded copy trains and tests, but on other speakers.
ARCHIVES: dict[str, Archive] = {
    "fsdd/recordings": Archive(
        "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",
        "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0",
        "free-spoken-digit-dataset-1.0.9/recordings",
    ),
}


def data_root() -> tuple[Path, str]:
    """The data root and where it came from (for messages)."""
    if os.environ.get("SEQKIT_DATA"):
        return Path(os.environ["SEQKIT_DATA"]).expanduser(), "SEQKIT_DATA"
    return Path(pooch.os_cache("seqkit")), "the default cache (SEQKIT_DATA is not set)"


def _download(remote: Remote | Archive, target: Path, what: str, root: Path, origin: str) -> Path:
    """Download `remote` to `target` and return it; a file whose SHA-256 differs is removed (pooch
    checks a temporary file and moves it into place only if it matches) and an error raised."""
    hint = f"set SEQKIT_DATA (or --data-root) to a folder holding {what}"
    try:
        fetched = pooch.retrieve(remote.url, known_hash=f"sha256:{remote.sha256}", fname=target.name,
                                 path=target.parent, progressbar=False)
    except ValueError as err:  # pooch: checksum mismatch; the download is already discarded
        got = re.search(r"got ([0-9a-f]{64})", str(err))
        actual = f"is {got.group(1)}, " if got else "does not match: "
        raise SeqkitError(f"download of {remote.url} rejected and removed: its SHA-256 {actual}expected "
                          f"{remote.sha256}; try again later, or {hint}") from None
    except Exception as err:  # noqa: BLE001 - any network failure ends in the same advice
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise SeqkitError(
            f"data {what} not found under data root {root} (from {origin}) and its download "
            f"from {remote.url} failed ({reason}); {hint}"
        ) from None
    return Path(fetched)


def _find(path: str | Path, table: dict, kind: str):
    """Where `path` (a ``file`` or ``folder``) is, as ``(local path, entry, root, origin)``: `entry`
    is None when the path is there, else `table`'s entry to fetch it from; an error naming the
    data root when it is neither there nor in `table`."""
    path = Path(path).expanduser()
    there = Path.is_file if kind == "file" else Path.is_dir
    if path.is_absolute():
        if not there(path):
            raise SeqkitError(f"data {kind} {path} not found")
        return path, None, None, None
    root, origin = data_root()
    local = root / path
    if there(local):
        return local, None, root, origin
    entry = table.get(path.as_posix())
    if entry is None and path.as_posix() in UNHOSTED:
        source = UNHOSTED[path.as_posix()]
        raise SeqkitError(f"data {kind} {path.as_posix()} not found under data root {root} (from {origin}) and it "
                          f"cannot be downloaded (no stable upstream address): take it from {source.source}, check "
                          f"its SHA-256 is {source.sha256}, and put it there (or set SEQKIT_DATA)")
    if entry is None:
        raise SeqkitError(f"data {kind} {path.as_posix()} not found under data root {root} (from {origin}); "
                          f"set SEQKIT_DATA (or --data-root) to a folder holding {path.as_posix()}")
    return local, entry, root, origin


def locate(path: str | Path, known: dict[str, Remote] | None = None) -> Path:
    """Return the local file for `path`, downloading and verifying a known one that is missing.

    Args:
        path: absolute, or relative to the data root (``ETT-small/ETTh1.csv``).
        known: upstream addresses by relative path (defaults to the bundled recipes' files).
    """
    local, remote, root, origin = _find(path, KNOWN if known is None else known, "file")
    if remote is None:
        return local
    return _download(remote, local, f"file {Path(path).as_posix()}", root, origin)


def locate_folder(path: str | Path, archives: dict[str, Archive] | None = None) -> Path:
    """Return the local folder for `path`, downloading, verifying and extracting a known archive.

    Args:
        path: absolute, or relative to the data root (``fsdd/recordings``).
        archives: archives by the relative folder they provide (defaults to the recipes' ones).
    """
    local, archive, root, origin = _find(path, ARCHIVES if archives is None else archives, "folder")
    if archive is None:
        return local
    path = Path(path)
    name = Path(urlparse(archive.url).path).name or "archive"
    download = root / ".downloads" / f"{path.as_posix().replace('/', '-')}-{name}"
    fetched = _download(archive, download, f"folder {path.as_posix()}", root, origin)
    try:
        extract(fetched, archive.folder, local, source=archive.url)
    finally:
        fetched.unlink(missing_ok=True)  # extracted or refused, the archive itself is not kept
    return local


def _outside(name: str, top: str = "") -> bool:
    """Whether an archive member named `name` would land outside `top` (the folder the archive
    is extracted to when empty, else a folder inside it)."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True  # absolute: / or a Windows drive
    normal = posixpath.normpath(name)
    if top:
        top = posixpath.normpath(top)
        return normal != top and not normal.startswith(top + "/")
    return normal == ".." or normal.startswith("../")


def _refusal(name: str, kind: str, target: str = "", top: str = "") -> str | None:
    """Why the member `name` (of `kind`: file, dir, symlink, hardlink, other) is unsafe, or None.

    A link must point inside `top` too: the data folder, for the members that are extracted.
    """
    if _outside(name):
        return "would land outside the folder it is extracted to"
    if kind == "symlink":  # relative to the link's own folder
        if target.startswith("/") or _outside(posixpath.join(posixpath.dirname(name), target), top):
            return f"is a link pointing outside the folder ({target!r})"
    elif kind == "hardlink":  # relative to the archive's top
        if _outside(target, top):
            return f"is a link pointing outside the folder ({target!r})"
    elif kind == "other":
        return "is a device or FIFO, not a file"
    return None


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    return "file" if member.isfile() else "dir" if member.isdir() else "other"


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink"
    return "dir" if info.is_dir() else "file"


def _under(name: str, folder: str) -> bool:
    return posixpath.normpath(name).startswith(posixpath.normpath(folder) + "/")


def extract(archive: Path, folder: str, dest: Path, source: str | None = None) -> Path:
    """Extract the members under `folder` of a tar or zip `archive` into the new folder `dest`.

    Every member of the archive is checked before anything is written: one whose name is
    absolute or leads out with ``..``, a link pointing outside, or a device refuses the whole
    archive with an error naming it. The members are extracted into a temporary folder beside
    `dest` (with tarfile's ``data`` filter as a second check) and moved into place only when all
    are out, so a failure leaves neither `dest` nor a partial folder.

    Args:
        archive: a ``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz`` or ``.zip`` file.
        folder: the folder inside the archive that becomes `dest`.
        dest: the folder to create; it must not exist.
        source: what to call the archive in messages (its address).
    """
    archive, dest = Path(archive), Path(dest)
    label = source or str(archive)
    if dest.exists():
        raise SeqkitError(f"{dest} already exists; remove it to extract {label} again")
    try:
        if tarfile.is_tarfile(archive):
            opened = tarfile.open(archive)
            members = [(m.name, _tar_kind(m), m.linkname, m) for m in opened.getmembers()]
        elif zipfile.is_zipfile(archive):
            opened = zipfile.ZipFile(archive)
            members = [(i.filename, _zip_kind(i), "", i) for i in opened.infolist()]
            members = [(n, k, opened.read(i).decode("utf-8", "replace") if k == "symlink" else "", i)
                       for n, k, _, i in members]
        else:
            raise SeqkitError(f"{label}: not a tar or zip archive; check the address")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise SeqkitError(f"{label}: not a readable archive ({' '.join(str(err).split())[:120]})") from None
    with opened:
        for name, kind, target, _ in members:
            reason = _refusal(name, kind, target, folder if _under(name, folder) else "")
            if reason:
                raise SeqkitError(f"archive {label} refused: member {name!r} {reason}; nothing was extracted. "
                                  f"Put a trusted copy of the data under the data root (SEQKIT_DATA) instead")
        chosen = [m for name, _, _, m in members if _under(name, folder)]
        if not chosen:
            raise SeqkitError(f"archive {label} holds no folder {folder!r}; check the address")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            if isinstance(opened, tarfile.TarFile):
                opened.extractall(work, members=chosen, filter="data")
            else:
                opened.extractall(work, members=chosen)
            (work / folder).rename(dest)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
            raise SeqkitError(f"archive {label}: extraction failed ({' '.join(str(err).split())[:160]}); "
                              f"nothing was kept") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest
