"""The one exception type seqkit raises for problems a user can fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SeqkitError(Exception):
    """A problem with the user's input: the message is one line that says what and how to fix it.

    The command line prints it as ``error: <message>`` and exits with status 2, without a traceback.
    """


def nearest(word: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a "did you mean" hint listing the closest valid names, or all of them if none is close.

    Args:
        word: the mistyped name.
        choices: the valid names.
        n: how many close names to list at most.

    Example:
        >>> nearest("pred_lem", ["pred_len", "seq_len", "batch_size"])
        'did you mean pred_len?'
    """
    choices = sorted(set(choices))
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(close) + "?"
    return "valid names: " + ", ".join(choices)
