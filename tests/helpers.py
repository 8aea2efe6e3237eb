"""Shared by the tests: the project root, the in-process ``seqkit`` runner, one-line error checks."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
from pathlib import Path
from typing import NamedTuple

from hypothesis import HealthCheck, settings

from seqkit.errors import SeqkitError

ROOT = Path(__file__).resolve().parent.parent  # the project root: recipes/ and configs/ link into seqkit/bundled
FAST = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
LM_SPEC = {"frontend": {"name": "embedding", "dim": 16},
           "backend": {"name": "lstm", "hidden": 24, "layers": 2, "stateful": True},
           "head": {"name": "softmax"}}


class Result(NamedTuple):
    """What a command gave: ``result.code`` / ``.out`` / ``.err``, or ``code, out, err = result``."""

    code: int
    out: str
    err: str


def run_cli(*args) -> Result:
    """``seqkit ARGS`` in this process through the real entry point; returns (exit code, stdout, stderr).

    A plain function, so module- and session-scoped fixtures can use it too; the ``cli`` fixture is this
    function. ``main()`` returns on success (0) and raises SystemExit with the status otherwise."""
    from seqkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["seqkit", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())


def digest(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under `folder`: a run directory hashed before and after a command."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(code: int, err: str, *names: object) -> str:
    """Assert a failing command's output: non-zero, one ``error:`` line naming `names`, no traceback."""
    assert code != 0, err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for name in names:
        assert str(name) in err, (name, err)
    return err.strip()


def one_line(err: SeqkitError, *names: object) -> str:
    """Assert an error's message: one non-empty line naming `names`."""
    message = str(err)
    assert "\n" not in message and message, message
    for name in names:
        assert str(name) in message, (name, message)
    return message
