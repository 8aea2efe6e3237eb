"""The block registry: every front-end, back-end and head seqkit can compose, by name.

A config names a block with ``name:`` and sets its other arguments; sizes that follow from the
data or from the previous block (``in_dim``, ``channels``, ``pred_len`` ...) are derived by
`build_model` and never written in a config.
"""

from __future__ import annotations

import inspect
import logging

from torch import nn

from seqkit.blocks.adaptive import AdaptiveSoftmax
from seqkit.blocks.backends import GRU, LSTM, RNN
from seqkit.blocks.classify import Classify
from seqkit.blocks.ctc import CTC
from seqkit.blocks.forecast import Forecast
from seqkit.blocks.frontends import ConvSpectrogram, Embedding, Segmenter
from seqkit.blocks.segrnn import SegRNN
from seqkit.blocks.softmax import LanguageModelHead, Softmax
from seqkit.errors import SeqkitError, check_type, nearest

log = logging.getLogger("seqkit")

FRONTENDS = {
    "conv_spectrogram": ConvSpectrogram,
    "embedding": Embedding,
    "segmenter": Segmenter,
}
BACKENDS = {
    "rnn": RNN,
    "lstm": LSTM,
    "gru": GRU,
    "segrnn": SegRNN,
}
HEADS = {
    "classify": Classify,
    "ctc": CTC,
    "forecast": Forecast,
    "softmax": Softmax,
    "adaptive_softmax": AdaptiveSoftmax,
}
TABLES = {"frontend": FRONTENDS, "backend": BACKENDS, "head": HEADS}

# Arguments seqkit derives from the data (``channels``, ``seq_len``, ``pred_len``) and from the previous
# block (``in_dim`` and what that block ``provides``); a config never sets them.
DATA_DIMS = ("in_dim", "channels", "seq_len", "pred_len", "sample_rate", "vocab_size")
DERIVED = {
    "frontend": DATA_DIMS,
    "backend": DATA_DIMS + ("seg_len", "per_channel", "norm", "embedding"),
    "head": DATA_DIMS + ("seg_len", "per_channel", "norm", "out_steps", "embedding", "stride", "target_channel"),
}


# What gives each derived size, for the error when a block does not fit the data.
NEEDS = {"pred_len": "a horizon: forecasting data", "vocab_size": "units: speech or text data",
         "in_dim": "the previous block's size", "channels": "a time series"}


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The constructor arguments of a block class, by name."""
    return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])


def settable(kind: str, cls: type) -> dict[str, inspect.Parameter]:
    """The arguments of block `cls` that a config may set: all but the derived ones."""
    return {k: p for k, p in parameters(cls).items() if k not in DERIVED[kind]}


def argument_docs(cls: type) -> dict[str, str]:
    """Each constructor argument's description, from the ``Args:`` sections of the docstrings of
    `cls` and its bases (so `seqkit blocks` is generated from the code and cannot go stale).

    Example:
        >>> argument_docs(GRU)["hidden"]
        'units per layer and direction.'
    """
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        for name, text in _args_section(inspect.getdoc(klass) or "").items():
            docs.setdefault(name, text)
    return docs


def _args_section(doc: str) -> dict[str, str]:
    """``name: description`` entries of a Google-style ``Args:`` section (continuation lines joined)."""
    if "Args:" not in doc:
        return {}
    entries: dict[str, str] = {}
    name = None
    for line in doc.split("Args:", 1)[1].splitlines()[1:]:
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent < 4:
            break  # the section ends at a blank or dedented line
        key, colon, rest = line.strip().partition(":")
        if indent == 4 and colon and key.isidentifier():
            name = key
            entries[name] = rest.strip()
        elif name is not None:
            entries[name] += " " + line.strip()
    return entries


def check_spec(kind: str, spec: dict, where: str = "") -> None:
    """Fail on a block spec with an unknown block name or an argument no such block takes.

    An argument that another block of the same kind takes (``cell`` when swapping ``segrnn`` for
    ``gru``) is accepted here and ignored with a note when building, so that swapping blocks is a
    one-word change.
    """
    table = TABLES[kind]
    where = where or f"model.{kind}"
    name = spec.get("name")
    if name not in table:
        raise SeqkitError(f"{where}.name: unknown {kind} {name!r}; {nearest(str(name), table)}")
    known = {k for cls in table.values() for k in settable(kind, cls)}
    for key in spec:
        if key == "name":
            continue
        if key in DERIVED[kind]:
            raise SeqkitError(f"{where}.{key} is derived by seqkit from the data and the other blocks; remove it")
        if key not in known:
            raise SeqkitError(f"{where}.{key}: no {kind} takes {key!r}; {nearest(key, known)}")
        param = parameters(table[name]).get(key)
        if param is not None and param.default is not inspect.Parameter.empty:
            check_type(f"{where}.{key}", param.default, spec[key])


def build(kind: str, spec: dict, **dims) -> nn.Module:
    """Build the block of `kind` named by ``spec["name"]`` with the rest of `spec` as arguments.

    Args:
        kind: ``frontend``, ``backend`` or ``head``.
        spec: ``{"name": ..., **arguments}`` from a config.
        **dims: derived sizes; each is passed on if the block takes it.

    Example:
        >>> gru = build("backend", {"name": "gru", "hidden": 16}, in_dim=8, channels=7)
        >>> type(gru).__name__, gru.out_dim
        ('GRU', 16)
    """
    spec = dict(spec)
    check_spec(kind, spec)
    name = spec.pop("name")
    cls = TABLES[kind][name]
    params = parameters(cls)
    ignored = [k for k in spec if k not in params]
    if ignored:
        log.info("%s %s does not take %s: ignored", kind, cls.__name__, ", ".join(ignored))
    kwargs = {k: v for k, v in dims.items() if k in params}
    kwargs.update({k: v for k, v in spec.items() if k in params})
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        needs = ", ".join(f"{k} ({NEEDS.get(k, 'from the data')})" for k in missing)
        raise SeqkitError(f"the {name} {kind} needs {needs}, which this data does not give: "
                          f"pick a {kind} that fits the task (seqkit blocks lists them)")
    return cls(**kwargs)


__all__ = ["BACKENDS", "FRONTENDS", "HEADS", "TABLES", "argument_docs", "build", "check_spec", "parameters",
           "settable", "Classify", "ConvSpectrogram", "Embedding", "Segmenter", "RNN", "LSTM", "GRU", "SegRNN", "CTC",
           "Forecast", "Softmax", "AdaptiveSoftmax", "LanguageModelHead"]
