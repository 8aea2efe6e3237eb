"""Verified downloads of data archives and their safe extraction, against a local HTTP server on
127.0.0.1 serving a good archive, a corrupted one and hostile ones (no real network)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from seqkit.data.root import ARCHIVES, KNOWN, Archive, Remote, extract, locate, locate_folder
from seqkit.errors import SeqkitError

TOP = "pkg-1.0/recordings"  # the folder inside the test archives that becomes the data folder
WAV = b"RIFF....WAVEfmt fake recording bytes"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data root inside tmp_path/sandbox: anything written outside it is an escape."""
    folder = tmp_path / "sandbox" / "root"
    folder.mkdir(parents=True)
    monkeypatch.setenv("SEQKIT_DATA", str(folder))
    return folder


def tar_bytes(entries: list[tuple[str, str, bytes | str]], mode: str = "w:gz") -> bytes:
    """A tar archive of (name, kind, content-or-link-target) entries; kinds: file, dir, symlink, hardlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, kind, content in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = content
            tar.addfile(info)
    return buffer.getvalue()


def zip_bytes(entries: list[tuple[str, bytes]], links: dict[str, str] = {}) -> bytes:  # noqa: B006 - read only
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(name, content)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink, as Info-ZIP stores one
            archive.writestr(info, target)
    return buffer.getvalue()


GOOD = [(f"{TOP}/", "dir", b""), (f"{TOP}/0_amy_0.wav", "file", WAV), (f"{TOP}/1_amy_0.wav", "file", WAV[::-1]),
        ("pkg-1.0/README.md", "file", b"not part of the data folder")]


def serve(www: Path, url: str, name: str, payload: bytes, sha256: str | None = None) -> dict[str, Archive]:
    (www / name).write_bytes(payload)
    return {"sets/recordings": Archive(f"{url}/{name}", sha256 or hashlib.sha256(payload).hexdigest(), TOP)}


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_verified_archive_is_extracted_and_not_kept(root, server, kind):
    www, url = server
    payload = tar_bytes(GOOD) if kind == "tar.gz" else zip_bytes([(n, c) for n, k, c in GOOD if k == "file"])
    archives = serve(www, url, f"good.{kind}", payload)
    folder = locate_folder("sets/recordings", archives)
    assert folder == root / "sets" / "recordings"
    assert (folder / "0_amy_0.wav").read_bytes() == WAV and (folder / "1_amy_0.wav").read_bytes() == WAV[::-1]
    assert files_under(root) == {"sets", "sets/recordings", "sets/recordings/0_amy_0.wav",
                                 "sets/recordings/1_amy_0.wav", ".downloads"}  # no README, no archive left
    (www / f"good.{kind}").unlink()  # a second call uses the folder, without the network
    assert locate_folder("sets/recordings", archives) == folder


def test_a_corrupted_archive_is_rejected_removed_and_never_used(root, server):
    www, url = server
    archives = serve(www, url, "corrupt.tar.gz", tar_bytes(GOOD)[:-100] + b"x" * 100,
                     sha256=hashlib.sha256(tar_bytes(GOOD)).hexdigest())
    for _ in range(2):  # nothing from the first attempt is picked up by the second
        with pytest.raises(SeqkitError) as err:
            locate_folder("sets/recordings", archives)
        message = str(err.value)
        assert f"download of {url}/corrupt.tar.gz rejected and removed" in message and "\n" not in message
        assert archives["sets/recordings"].sha256 in message and "SEQKIT_DATA" in message
        assert files_under(root) in (set(), {".downloads"})


def test_a_corrupted_single_file_is_rejected_removed_and_never_used(root, server):
    www, url = server
    (www / "data.csv").write_bytes(b"date,a\n2020-01-01,666\n")
    real = b"date,a\n2020-01-01,1\n"
    known = {"sets/data.csv": Remote(f"{url}/data.csv", hashlib.sha256(real).hexdigest())}
    with pytest.raises(SeqkitError, match=r"rejected and removed: its SHA-256 is [0-9a-f]{64}, expected"):
        locate("sets/data.csv", known)
    assert not (root / "sets" / "data.csv").exists() and files_under(root) in (set(), {"sets"})
    (www / "data.csv").write_bytes(real)  # upstream fixed: the next call downloads the right file
    assert locate("sets/data.csv", known).read_bytes() == real


HOSTILE = {
    "parent": [*GOOD, ("pkg-1.0/recordings/../../../../evil.txt", "file", b"owned")],
    "absolute": [*GOOD, ("{tmp}/evil.txt", "file", b"owned")],  # {tmp}: the test's own folder, outside the root
    "symlink out": [*GOOD, (f"{TOP}/link", "symlink", "../../../../outside")],
    "absolute symlink": [*GOOD, (f"{TOP}/passwd", "symlink", "/etc/passwd")],
    "hardlink out": [*GOOD, (f"{TOP}/hard", "hardlink", "../outside.txt")],
    "device": [*GOOD, (f"{TOP}/pipe", "fifo", b"")],
    "outside the data folder": [*GOOD, ("../evil.txt", "file", b"owned")],  # not even under TOP
}


@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_a_hostile_archive_is_refused_before_anything_is_written(root, server, tmp_path, case):
    www, url = server
    members = [(name.replace("{tmp}", str(tmp_path)), *rest) for name, *rest in HOSTILE[case]]
    archives = serve(www, url, "hostile.tar.gz", tar_bytes(members))  # its checksum matches
    before = files_under(tmp_path / "sandbox")
    with pytest.raises(SeqkitError) as err:
        locate_folder("sets/recordings", archives)
    message = str(err.value)
    name = members[-1][0]
    assert f"archive {url}/hostile.tar.gz refused: member {name!r}" in message and "\n" not in message
    assert "nothing was extracted" in message
    assert files_under(tmp_path / "sandbox") == before | {"root/.downloads"}  # the archive is removed too
    assert not (tmp_path / "evil.txt").exists()


def test_a_link_chain_that_escapes_only_when_followed_is_refused_at_extraction(tmp_path):
    # Each link looks inside on its own: "x" -> ".", and "y" -> "x/x/x/x/../../../q" reads as x/q;
    # but followed through x, y climbs three levels out. The name check passes it, tarfile's data
    # filter (the second check, on the extracted links) refuses it.
    chain = [(f"{TOP}/x", "symlink", "."), (f"{TOP}/y", "symlink", "x/x/x/x/../../../q")]
    archive = tmp_path / "chain.tar"
    archive.write_bytes(tar_bytes([*GOOD, *chain], "w"))
    dest = tmp_path / "out" / "recordings"
    with pytest.raises(SeqkitError, match="extraction failed .*nothing was kept"):
        extract(archive, TOP, dest)
    assert not dest.exists() and files_under(tmp_path / "out") == set()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", f"{TOP}/../../../evil.txt"])
def test_a_zip_with_a_member_outside_is_refused(tmp_path, name):
    archive = tmp_path / "hostile.zip"
    archive.write_bytes(zip_bytes([(f"{TOP}/0_amy_0.wav", WAV), (name, b"owned")]))
    dest = tmp_path / "out" / "recordings"
    with pytest.raises(SeqkitError, match=f"member {name!r} would land outside"):
        extract(archive, TOP, dest)
    assert not (tmp_path / "out").exists()


def test_a_zip_symlink_pointing_out_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    archive.write_bytes(zip_bytes([(f"{TOP}/0_amy_0.wav", WAV)], links={f"{TOP}/key": "../../../.ssh/id_rsa"}))
    with pytest.raises(SeqkitError, match="is a link pointing outside the folder"):
        extract(archive, TOP, tmp_path / "out" / "recordings")
    assert not (tmp_path / "out").exists()


def test_not_an_archive_or_no_such_folder_in_it(tmp_path):
    text = tmp_path / "page.tar.gz"
    text.write_text("<html>not found</html>")
    with pytest.raises(SeqkitError, match="not a tar or zip archive"):
        extract(text, TOP, tmp_path / "a")
    other = tmp_path / "other.tar"
    other.write_bytes(tar_bytes([("elsewhere/0_amy_0.wav", "file", WAV)], "w"))
    with pytest.raises(SeqkitError, match="holds no folder 'pkg-1.0/recordings'"):
        extract(other, TOP, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_known_archive_and_files_have_addresses_and_checksums(data_root):
    for remote in [*KNOWN.values(), *ARCHIVES.values()]:
        assert remote.url.startswith("https://") and len(remote.sha256) == 64
        int(remote.sha256, 16)
    fsdd = ARCHIVES["fsdd/recordings"]
    assert fsdd.url.endswith(".tar.gz") and fsdd.folder.endswith("/recordings")
    assert locate_folder("fsdd/recordings") == data_root / "fsdd" / "recordings"  # present: no download


def test_a_missing_unknown_folder_names_the_data_root(root):
    with pytest.raises(SeqkitError, match=r"data folder sets/none not found under data root .*SEQKIT_DATA"):
        locate_folder("sets/none")
