"""Shared fixtures: the real data root (../shared/data), and the seqkit command run in-process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def _data_root() -> Path:
    root = Path(os.environ.get("SEQKIT_DATA", SHARED))
    if not (root / "ETT-small" / "ETTh1.csv").is_file():
        pytest.exit(f"the real data sets are needed: set SEQKIT_DATA (looked in {root})", returncode=3)
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _data_root()


@pytest.fixture(autouse=True)
def _seqkit_env(monkeypatch, data_root):
    monkeypatch.setenv("SEQKIT_DATA", str(data_root))


@pytest.fixture(scope="session")
def etth1(data_root) -> Path:
    return data_root / "ETT-small" / "ETTh1.csv"


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``seqkit ARGS`` in this process through the real entry point; return code and output."""
    from seqkit.cli import main

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["seqkit", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a free port) for the test's duration: (folder, base URL)."""
    import http.server
    import threading
    from functools import partial

    www = tmp_path / "www"
    www.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
