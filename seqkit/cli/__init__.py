"""The ``seqkit`` command: run recipes, evaluate and use checkpoints, list blocks and recipes.

`main` is the entry point; the commands live in `seqkit.cli.commands` and `seqkit.cli.speech`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer
from typer.exceptions import TyperException

from seqkit.cli import commands, speech  # noqa: F401 - they register their commands on the app
from seqkit.cli.app import app
from seqkit.errors import SeqkitError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    logging.getLogger("seqkit").setLevel(logging.INFO)
    try:
        code = app(standalone_mode=False, prog_name="seqkit")  # returns the status of a command that raised typer.Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except SeqkitError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except typer.Abort:
        sys.exit(1)
    except TyperException as err:  # bad command-line usage: one line, and where the help is
        if type(err).__name__ == "NoArgsIsHelpError":  # bare `seqkit`: the help itself
            err.show()
        else:
            ctx = getattr(err, "ctx", None)
            command = ctx.command_path if ctx is not None else "seqkit"
            message = " ".join(err.format_message().split()).rstrip(".")
            print(f"error: {message} (see {command} --help)", file=sys.stderr)
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001 - never a raw traceback from the command line
        if os.environ.get("SEQKIT_DEBUG"):
            raise
        print(f"error: {type(err).__name__}: {' '.join(str(err).split())[:300]} "
              f"(set SEQKIT_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(1)


