"""The data root and verified downloads, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest

from seqkit.data.root import KNOWN, Remote, locate
from seqkit.errors import SeqkitError


def test_known_files_have_an_address_and_a_checksum(data_root):
    remote = KNOWN["ETT-small/ETTh1.csv"]
    assert remote.url.startswith("https://") and len(remote.sha256) == 64
    sums = dict(line.split()[::-1] for line in (data_root / "SHA256SUMS").read_text().splitlines() if line)
    assert sums["ETT-small/ETTh1.csv"] == remote.sha256


def test_relative_path_resolves_under_the_data_root(data_root):
    assert locate("ETT-small/ETTh1.csv") == data_root / "ETT-small/ETTh1.csv"


def test_missing_file_names_the_file_the_address_and_seqkit_data(tmp_path, monkeypatch, server):
    _, url = server
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "empty"))
    known = {"ETT-small/ETTh1.csv": Remote(f"{url}/missing/ETTh1.csv", KNOWN["ETT-small/ETTh1.csv"].sha256)}
    with pytest.raises(SeqkitError) as err:
        locate("ETT-small/ETTh1.csv", known)
    message = str(err.value)
    assert "ETT-small/ETTh1.csv" in message and f"{url}/missing/ETTh1.csv" in message
    assert "SEQKIT_DATA" in message and "\n" not in message


def test_download_is_verified_and_kept(tmp_path, monkeypatch, server):
    www, url = server
    payload = b"date,a\n2020-01-01,1\n"
    (www / "good.csv").write_bytes(payload)
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "root"))
    known = {"sets/good.csv": Remote(f"{url}/good.csv", hashlib.sha256(payload).hexdigest())}
    path = locate("sets/good.csv", known)
    assert path == tmp_path / "root" / "sets" / "good.csv" and path.read_bytes() == payload


def test_download_with_a_wrong_checksum_is_rejected_and_removed(tmp_path, monkeypatch, server):
    www, url = server
    (www / "corrupt.csv").write_bytes(b"date,a\n2020-01-01,666\n")
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "root"))
    known = {"sets/corrupt.csv": Remote(f"{url}/corrupt.csv", hashlib.sha256(b"the real file").hexdigest())}
    with pytest.raises(SeqkitError, match="rejected"):
        locate("sets/corrupt.csv", known)
    folder = tmp_path / "root" / "sets"
    assert not folder.exists() or not any(folder.iterdir())


def test_absolute_path_that_does_not_exist(tmp_path):
    with pytest.raises(SeqkitError, match="data file .*nowhere.csv not found"):
        locate(tmp_path / "nowhere.csv")
