"""Export a checkpoint's inference graph to ONNX or TorchScript, verified against the torch model.

What goes in the graph: the whole model, front-end included (log-mel spectrogram and convolutions,
segmenter, embeddings), the back-end and the head's forward pass. What stays outside, in Python:
file reading and resampling, the CSV scaler (standardising the window and undoing it), the
tokenizer, CTC decoding and sampling; `outside` of the result says which apply to a model.

The file is written next to `out` under a temporary name, loaded back (onnxruntime or
``torch.jit.load``), run on real inputs beside the torch model, and renamed to `out` only if every
output agrees within `TOLERANCE`; an existing `out` is kept unless ``force``.

Example:
    >>> output_format(Path("model.onnx")), output_format(Path("model.pt"), "torchscript")
    ('onnx', 'torchscript')
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqkit.checkpoint import load_model, resolve
from seqkit.errors import SeqkitError
from seqkit.export.onnx_ops import opaque_recurrent_layers, recurrent_onnx, stft_onnx
from seqkit.export.plans import Plan
from seqkit.export.plans import plan as plan_of

FORMATS = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts", ".torchscript")}
TOLERANCE = 1e-4


def output_format(out: Path, format: str | None = None) -> str:
    """The export format: `format` if given (checked), else read from the suffix of `out`."""
    if format is None:
        format = next((name for name, suffixes in FORMATS.items() if out.suffix.lower() in suffixes), None)
        if format is None:
            raise SeqkitError(f"cannot tell the format from {out.name!r}: pass --format onnx or --format torchscript")
    format = format.lower()
    if format not in FORMATS:
        raise SeqkitError(f"unknown export format {format!r}; valid formats: {', '.join(FORMATS)}")
    return format


@dataclass
class Exported:
    """What `export_model` wrote and how it was checked."""

    path: Path
    format: str
    inputs: list[str]
    outputs: list[str]
    checked_on: str
    difference: float
    outside: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The lines `seqkit export` prints."""
        return "\n".join([
            f"wrote {self.path} ({self.format}, {self.path.stat().st_size / 1e6:.1f} MB)",
            "inputs:  " + "; ".join(self.inputs), "outputs: " + "; ".join(self.outputs),
            f"verified against the torch model on {self.checked_on}: max abs difference "
            f"{self.difference:.2e} (tolerance {TOLERANCE:g})",
            "left outside the graph (in Python):", *(f"  - {line}" for line in self.outside)])


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress lines and warnings (the result is verified instead)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "torch.fx")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def _write_onnx(plan: Plan, path: Path, metadata: dict) -> None:
    from torch.export import Dim

    inputs, outputs = plan.names
    dims = {name: Dim(name, min=plan.min_sizes.get(name, 1)) for axes in plan.axes.values() for name in axes.values()}
    shapes = {name: {axis: dims[dim] for axis, dim in plan.axes.get(name, {}).items()} or None for name in inputs}
    with _quiet(), opaque_recurrent_layers(plan.graph):
        program = torch.onnx.export(
            plan.graph, plan.checks[0], dynamo=True, external_data=False, verbose=False,
            input_names=inputs, output_names=outputs, dynamic_shapes=tuple(shapes.values()),
            custom_translation_table={torch.ops.seqkit.recurrent.default: recurrent_onnx,
                                      torch.ops.aten.stft.default: stft_onnx})
    program.model.metadata_props["seqkit"] = json.dumps(metadata)
    program.save(str(path), external_data=False)


def _write_torchscript(plan: Plan, path: Path, metadata: dict) -> None:
    # Tracing records the tensor operations of one run (nn.GRU/LSTM/RNN as single fused ops, any
    # length); the blocks' data-dependent branches take their export path (`backends.exporting`).
    # Scripting would need every block written in TorchScript's Python subset.
    with _quiet():
        traced = torch.jit.trace(plan.graph, plan.checks[0], check_trace=False, strict=False)
    torch.jit.save(traced, str(path), _extra_files={"seqkit.json": json.dumps(metadata)})


def _runner(format: str, path: Path, names: list[str]):
    """A function that runs the exported file on a tuple of tensors and returns numpy arrays."""
    if format == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # small checks: threads would only wait for each other
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        wanted = [i.name for i in session.get_inputs()]
        return lambda args: session.run(None, {n: a.numpy() for n, a in zip(names, args) if n in wanted})
    module = torch.jit.load(str(path))

    def run(args):
        with torch.no_grad():
            result = module(*args)
        return [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]
    return run


def _difference(plan: Plan, run) -> float:
    """Largest absolute difference between the exported graph and the torch model over every check."""
    worst, ours, theirs = 0.0, None, None
    for args in plan.checks:
        with torch.no_grad():
            if plan.chain and ours is not None:  # each side continues from its own state
                mine = (args[0], *(torch.from_numpy(s) for s in ours[1:]))
                args = (args[0], *theirs[1:])
            else:
                mine = args
            expected = plan.graph(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = run(mine)
        if len(got) != len(expected):
            return float("inf")
        for a, b in zip(got, expected):
            if tuple(a.shape) != tuple(b.shape):
                return float("inf")
            worst = max(worst, float(np.abs(a.astype(np.float64) - b.numpy().astype(np.float64)).max(initial=0)))
        ours, theirs = got, expected
    return worst


def export_model(checkpoint: str | Path, out: str | Path, format: str | None = None,
                 input: str | Path | None = None, force: bool = False) -> Exported:
    """Export a checkpoint's model to ONNX or TorchScript and verify the file against the torch model.

    Args:
        checkpoint: a ``.ckpt`` or a run directory (its best checkpoint).
        out: the file to write; its suffix gives the format when `format` is None.
        format: ``onnx`` or ``torchscript``.
        input: a file of one's own to verify with (a wav, a CSV, a text) instead of the checkpoint's data.
        force: replace an existing `out` (only once the new file has passed verification).

    Returns:
        an `Exported` with the inputs, outputs, the verified difference and what stays outside.
    """
    out = Path(out)
    format = output_format(out, format)
    if out.is_dir():
        raise SeqkitError(f"{out} is a folder; give a file name such as {out / ('model' + FORMATS[format][0])}")
    if out.exists() and not force:
        raise SeqkitError(f"{out} already exists; pass --force to replace it")
    path = resolve(checkpoint)
    try:
        model, info = load_model(path)
    except SeqkitError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the loader trips on, the file is not a checkpoint
        raise SeqkitError(f"{path}: not a seqkit checkpoint ({type(err).__name__}: {str(err)[:80]})") from None
    plan = plan_of(model, info, Path(input) if input is not None else None)
    names = plan.names[0]
    metadata = {"checkpoint": path.name, "recipe": info.get("recipe"), "inputs": plan.described[0],
                "outputs": plan.described[1], "outside": plan.outside,
                **{k: info[k] for k in ("columns", "forecast_columns", "scaler", "seq_len", "sample_rate")
                   if k in info}}
    if getattr(model.head, "quantiles", None):  # a quantile forecaster: the last axis of its forecast
        metadata["quantiles"] = list(model.head.quantiles)
    if "tokenizer" in info:
        from seqkit.data.tokenizers import tokenizer_from_data, unit_texts

        metadata["units"] = unit_texts(tokenizer_from_data(info["tokenizer"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        try:
            (_write_onnx if format == "onnx" else _write_torchscript)(plan, temporary, metadata)
            difference = _difference(plan, _runner(format, temporary, names))
        except SeqkitError:
            raise
        except Exception as err:  # noqa: BLE001 - an exporter's failure, told in one line
            first = " ".join(str(err).split())[:200]
            raise SeqkitError(f"{format} export of {path} failed: {type(err).__name__}: {first}") from None
        if not difference <= TOLERANCE:
            raise SeqkitError(f"{format} export of {path} failed verification: max abs difference {difference:.3g} "
                              f"> {TOLERANCE:g} on {plan.checked_on}; {out} not written")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return Exported(out, format, plan.described[0], plan.described[1], plan.checked_on, difference, plan.outside)
