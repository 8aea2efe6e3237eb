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
from torch import Tensor, nn

from seqkit.blocks.backends import Recurrent
from seqkit.blocks.classify import Classify
from seqkit.blocks.ctc import CTC
from seqkit.blocks.frontends import ConvSpectrogram, Embedding, Segmenter
from seqkit.checkpoint import load_model, resolve
from seqkit.errors import SeqkitError
from seqkit.onnx_ops import opaque_recurrent_layers, recurrent_onnx, stft_onnx

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


class _Graph(nn.Module):
    """The model with the outputs a caller uses: (predictions, lengths) or predictions alone."""

    def __init__(self, model: nn.Module, lengths_out: bool):
        super().__init__()
        self.model, self.lengths_out = model, lengths_out

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        y, y_lengths = self.model(x, lengths)
        return (y, y_lengths) if self.lengths_out else y


class _TokenStep(nn.Module):
    """A language model as a step function: (tokens, h[, c]) -> (logits, h[, c]), each state
    (layers, B, H). Runs the model's own stateful path, so chained calls read one long stream."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, h: Tensor, c: Tensor | None = None):
        backend = self.model.backend
        layers = range(len(backend.forward_layers))
        rows = [h[i:i + 1] if c is None else (h[i:i + 1], c[i:i + 1]) for i in layers]  # (1, B, H) each
        stateful, backend.stateful, backend.state = backend.stateful, True, rows
        try:
            logits, _ = self.model(tokens)
            finals = backend.state
        finally:
            backend.stateful, backend.state = stateful, None
        if c is None:
            return logits, torch.cat(finals)
        return logits, torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals])


@dataclass
class _Plan:
    """How to export one model: the graph, real inputs, names, dynamic axes and what stays outside."""

    graph: nn.Module
    checks: list[tuple]  # argument tuples; the first is also the example the graph is recorded with
    names: tuple[list[str], list[str]]  # graph inputs, graph outputs
    axes: dict[str, dict[int, str]]  # dynamic axes of the inputs, by input name
    described: tuple[list[str], list[str]]
    checked_on: str
    outside: list[str]
    chain: bool = False  # the state outputs of a check feed the next check
    min_sizes: dict[str, int] = field(default_factory=dict)


def _data(info: dict, what: str) -> dict:
    data = info.get("config", {}).get("data")
    if not data or "path" not in data:
        raise SeqkitError(f"the checkpoint names no data to take a real {what} from: pass --input FILE")
    return data


def _series_plan(model, info: dict, source: Path | None) -> _Plan:
    from seqkit.data.series import SeriesData, read_csv

    seq_len, columns = info["seq_len"], info["columns"]
    if source is None:
        data = SeriesData(**_data(info, "window"))
        windows = data.splits["test"].__getitems__([0, 1, 2])["inputs"]  # already scaled, (3, L, C)
        where = f"the first 3 test windows of {data.path.name}"
    else:
        _, values, names = read_csv(source)
        missing = [c for c in columns if c not in names]
        if missing:
            raise SeqkitError(f"{source}: missing column(s) {', '.join(missing)} the model was trained on")
        if len(values) < seq_len:
            raise SeqkitError(f"{source}: {len(values)} rows, the model reads windows of {seq_len}")
        values = (values[:, [names.index(c) for c in columns]] - info["scaler"]["mean"]) / info["scaler"]["std"]
        rows = torch.from_numpy(values[-seq_len - 2:].astype(np.float32))
        windows = torch.stack([rows[k: k + seq_len] for k in range(len(rows) - seq_len + 1)][-3:])
        where = f"the last {len(windows)} window(s) of {source.name}"
    batch = windows[:2] if len(windows) > 1 else windows.expand(2, -1, -1)
    return _Plan(
        _Graph(model, lengths_out=False), [(batch,), (windows[-1:],)], (["window"], ["forecast"]),
        {"window": {0: "batch"}},
        ([f"window (batch, {seq_len}, {len(columns)}) float32: the last {seq_len} rows of columns "
          f"{', '.join(columns)}, standardised with the training mean and std"],
         [f"forecast (batch, {info['dims']['pred_len']}, {len(columns)}) float32, on the same standardised scale"]),
        where,
        ["scaling: (x - mean) / std before the graph and forecast * std + mean after it (the training "
         "statistics, stored in the file's metadata); cutting the window from a CSV and the future dates"])


def _audio_plan(model, info: dict, source: Path | None) -> _Plan:
    from seqkit.data.audio import NAME, locate_folder, read_audio

    rate, n_fft = info["sample_rate"], model.frontend.n_fft
    if source is None:
        folder = locate_folder(_data(info, "recording")["path"])
        files = sorted(p for p in folder.iterdir() if NAME.match(p.name) and NAME.match(p.name).group(3) == "0")[:2]
        if len(files) < 2:
            raise SeqkitError(f"{folder}: no FSDD test recordings (index 0) to check with; pass --input FILE")
        clips = [read_audio(f, rate) for f in files]
        where = f"FSDD test recordings {files[0].name} and {files[1].name} (a padded batch, then the first alone)"
    else:
        whole = read_audio(source, rate)
        clips, files = [whole, whole[: int(len(whole) * 0.6)]], [source]
        where = f"{source.name} and its first 60% (a padded batch), then {source.name} alone"
    clips = [np.pad(c, (0, max(0, n_fft - len(c)))) for c in clips]  # at least one analysis window
    lengths = torch.tensor([len(c) for c in clips])
    audio = torch.zeros(len(clips), int(lengths.max()), 1)
    for row, clip in enumerate(clips):
        audio[row, : len(clip), 0] = torch.from_numpy(clip)
    ctc = isinstance(model.head, CTC)
    classes = model.head.out_dim
    outputs = ["log_probs", "frames"] if ctc else ["logits"]
    described = ([f"audio (batch, samples, 1) float32: mono waveforms at {rate} Hz, zero-padded to the longest, "
                  f"at least {n_fft} samples", "lengths (batch,) int64: valid samples of each waveform"],
                 [f"log_probs (batch, frames, {classes}) float32: CTC log-probabilities, class 0 the blank",
                  "frames (batch,) int64: valid frames of each row"] if ctc else
                 [f"logits (batch, {classes}) float32: one score per class"])
    decoding = ("CTC decoding (greedy or beam search, LM fusion) and the tokenizer that turns unit ids into "
                "text (units in the file's metadata)" if ctc else
                "the argmax over the logits and the class names (units in the file's metadata)")
    return _Plan(_Graph(model, lengths_out=ctc), [(audio, lengths), (audio[:1, : int(lengths[0])], lengths[:1])],
                 (["audio", "lengths"], outputs), {"audio": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}},
                 described, where, [f"reading audio files, mixing to mono and resampling to {rate} Hz", decoding],
                 min_sizes={"samples": n_fft})


def _token_plan(model, info: dict, source: Path | None) -> _Plan:
    from seqkit.data.root import locate
    from seqkit.data.text import read_text, tokenizer_from_data

    tokenizer = tokenizer_from_data(info["tokenizer"])
    if source is None:
        data = _data(info, "text")
        text = read_text(locate(data["path"]))
        text = text[int(len(text) * data.get("train_fraction", 0.9)):][:4000]  # the validation text
        where = f"the validation text of {Path(data['path']).name}"
    else:
        text = read_text(source)[:4000]
        where = source.name
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    if len(ids) < 2:
        raise SeqkitError(f"{where}: fewer than 2 tokens to check with")
    streams = 2 if len(ids) >= 2 * (48 + 17) else 1
    steps = min(48, len(ids) // streams // 2)
    first = ids[: streams * steps].view(streams, steps)  # (B, T): contiguous chunks of the text
    second = ids[streams * steps: streams * (2 * steps - 1)].view(streams, steps - 1) if steps > 1 else first
    vocab = model.head.out_dim
    backend = model.backend
    if not (isinstance(backend, Recurrent) and not backend.backward_layers):  # no state to carry: plain graph
        return _Plan(_Graph(model, lengths_out=False), [(first,), (second,)], (["tokens"], ["logits"]),
                     {"tokens": {0: "batch", 1: "steps"}},
                     (["tokens (batch, steps) int64: token ids"], [f"logits (batch, steps, {vocab}) float32"]),
                     f"{where}: two chunks", ["the tokenizer (encode and decode) and sampling"])
    lstm = backend.cell == "lstm"
    layers, hidden = len(backend.forward_layers), backend.out_dim
    states = ["h", "c"] if lstm else ["h"]
    zeros = [torch.zeros(layers, streams, hidden) for _ in states]  # distinct: the exporter merges a tensor given twice
    return _Plan(
        _TokenStep(model), [(first, *zeros), (second,)],
        (["tokens", *states], ["logits", *[f"next_{s}" for s in states]]),
        {"tokens": {0: "batch", 1: "steps"}, **{s: {1: "batch"} for s in states}},
        (["tokens (batch, steps) int64: token ids, each row continuing the row of the previous call",
          *[f"{s} (layers={layers}, batch, {hidden}) float32: recurrent state, zeros to start" for s in states]],
         [f"logits (batch, steps, {vocab}) float32: next-token scores",
          *[f"next_{s}: the state {s} to pass with the next tokens" for s in states]]),
        f"{where}: {streams} stream(s), {steps} then {second.shape[1]} tokens, the state carried",
        ["the tokenizer (encode and decode; units in the file's metadata) and sampling (temperature, top-k)"],
        chain=True)


def _plan(model, info: dict, source: Path | None) -> _Plan:
    if source is not None and not source.is_file():
        raise SeqkitError(f"--input {source}: no such file")
    if not hasattr(model, "frontend"):
        raise SeqkitError("an ensemble checkpoint is exported member by member: export the checkpoints it was "
                          "made of")
    frontend = model.frontend
    if isinstance(frontend, Segmenter):
        return _series_plan(model, info, source)
    if isinstance(frontend, ConvSpectrogram) and isinstance(model.head, (CTC, Classify)):
        return _audio_plan(model, info, source)
    if isinstance(frontend, Embedding):
        return _token_plan(model, info, source)
    raise SeqkitError(f"no export for a {type(frontend).__name__} front-end with a {type(model.head).__name__} head")


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


def _write_onnx(plan: _Plan, path: Path, metadata: dict) -> None:
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


def _write_torchscript(plan: _Plan, path: Path, metadata: dict) -> None:
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


def _difference(plan: _Plan, run) -> float:
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
    plan = _plan(model, info, Path(input) if input is not None else None)
    names = plan.names[0]
    metadata = {"checkpoint": path.name, "recipe": info.get("recipe"), "inputs": plan.described[0],
                "outputs": plan.described[1], "outside": plan.outside,
                **{k: info[k] for k in ("columns", "scaler", "seq_len", "sample_rate") if k in info}}
    if "tokenizer" in info:
        from seqkit.data.text import tokenizer_from_data, unit_texts

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
