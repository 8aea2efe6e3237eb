"""Where data sets live: the data root, known files' upstream addresses, verified downloads.

The data root is ``--data-root`` (which sets ``SEQKIT_DATA``), else the ``SEQKIT_DATA``
environment variable, else a per-user cache folder. A known file missing from the root is
downloaded from its upstream address and kept only if its SHA-256 matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pooch

from seqkit.errors import SeqkitError


@dataclass(frozen=True)
class Remote:
    """A data file's upstream address and SHA-256."""

    url: str
    sha256: str


# Files the bundled recipes use, by their path under the data root.
KNOWN: dict[str, Remote] = {
    "ETT-small/ETTh1.csv": Remote(
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    ),
    "tinyshakespeare/input.txt": Remote(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}


def data_root() -> tuple[Path, str]:
    """The data root and where it came from (for messages)."""
    if os.environ.get("SEQKIT_DATA"):
        return Path(os.environ["SEQKIT_DATA"]).expanduser(), "SEQKIT_DATA"
    return Path(pooch.os_cache("seqkit")), "the default cache (SEQKIT_DATA is not set)"


def locate(path: str | Path, known: dict[str, Remote] | None = None) -> Path:
    """Return the local file for `path`, downloading and verifying a known one that is missing.

    Args:
        path: absolute, or relative to the data root (``ETT-small/ETTh1.csv``).
        known: upstream addresses by relative path (defaults to the bundled recipes' files).
    """
    known = KNOWN if known is None else known
    path = Path(path).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise SeqkitError(f"data file {path} not found")
        return path
    root, origin = data_root()
    local = root / path
    if local.is_file():
        return local
    remote = known.get(path.as_posix())
    hint = f"set SEQKIT_DATA (or --data-root) to a folder holding {path.as_posix()}"
    if remote is None:
        raise SeqkitError(f"data file {path.as_posix()} not found under data root {root} (from {origin}); {hint}")
    try:
        fetched = pooch.retrieve(
            remote.url, known_hash=f"sha256:{remote.sha256}", fname=local.name,
            path=local.parent, progressbar=False,
        )
    except ValueError as err:  # pooch: checksum mismatch; the download is discarded
        raise SeqkitError(f"download of {remote.url} rejected: {' '.join(str(err).split())[:200]}") from None
    except Exception as err:  # noqa: BLE001 - any network failure ends in the same advice
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise SeqkitError(
            f"data file {path.as_posix()} not found under data root {root} (from {origin}) and its download "
            f"from {remote.url} failed ({reason}); {hint}"
        ) from None
    return Path(fetched)
