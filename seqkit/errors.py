"""The one exception type seqkit raises for problems a user can fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


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


def type_name(value) -> str:
    """How a setting's kind of value is named in messages: ``an integer``, ``true/false`` ..."""
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__)


def check_type(path: str, old, new, source: str = "") -> None:
    """Fail unless `new` can replace `old`: same kind of value (an integer may stand for a number).

    Example:
        >>> check_type("data.pred_len", 96, "abc")
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: data.pred_len must be an integer, got 'abc'
    """
    if old is None or new is None:
        return
    if isinstance(old, Mapping) != isinstance(new, Mapping):
        raise SeqkitError(f"{path}{source} must be {'a mapping' if isinstance(old, Mapping) else type_name(old)}")
    if isinstance(old, bool) or isinstance(new, bool):
        ok = isinstance(old, bool) and isinstance(new, bool)
    elif isinstance(old, (int, float)):
        ok = isinstance(new, (int, float)) and (isinstance(old, float) or isinstance(new, int))
    elif isinstance(old, str):
        ok = isinstance(new, (str, int, float))  # a name like '2' or a path
    else:
        ok = True
    if not ok:
        raise SeqkitError(f"{path}{source} must be {type_name(old)}, got {new!r}")
