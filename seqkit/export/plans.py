"""What `seqkit.export` records for each kind of model: the graph, real inputs to verify it on,
the names and dynamic axes of its inputs and outputs, and what stays outside it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from seqkit.blocks.backends import Recurrent
from seqkit.blocks.classify import Classify
from seqkit.blocks.ctc import CTC
from seqkit.blocks.frontends import ConvSpectrogram, Embedding, Segmenter
from seqkit.errors import SeqkitError


class Graph(nn.Module):
    """The model with the outputs a caller uses: (predictions, lengths) or predictions alone."""

    def __init__(self, model: nn.Module, lengths_out: bool):
        super().__init__()
        self.model, self.lengths_out = model, lengths_out

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        y, y_lengths = self.model(x, lengths)
        return (y, y_lengths) if self.lengths_out else y


class TokenStep(nn.Module):
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
class Plan:
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


def forecast_description(head, info: dict) -> str:
    """What a forecasting graph outputs: its shape, its columns and, for a quantile model, its levels."""
    from seqkit.forecasting import forecast_columns

    columns = forecast_columns(info)
    shape = f"(batch, {info['dims']['pred_len']}, {len(columns)}" + (f", {len(head.quantiles)})" if head.quantiles
                                                                     else ")")
    levels = f", the last axis the quantiles {', '.join(f'{q:g}' for q in head.quantiles)}" * bool(head.quantiles)
    return (f"forecast {shape} float32 of columns {', '.join(columns)}{levels}, on the same standardised scale "
            f"(forecast * std + mean with the statistics of those columns)")


def series_plan(model, info: dict, source: Path | None) -> Plan:
    from seqkit.data.series import SeriesData
    from seqkit.forecasting import scaled_rows

    seq_len, columns = info["seq_len"], info["columns"]
    if source is None:
        data = SeriesData(**_data(info, "window"))
        windows = data.splits["test"].__getitems__([0, 1, 2])["inputs"]  # already scaled, (3, L, C)
        where = f"the first 3 test windows of {data.path.name}"
    else:
        rows = torch.from_numpy(scaled_rows(source, info)[1][-seq_len - 2:])  # (up to L + 2, C)
        windows = torch.stack([rows[k: k + seq_len] for k in range(len(rows) - seq_len + 1)][-3:])
        where = f"the last {len(windows)} window(s) of {source.name}"
    batch = windows[:2] if len(windows) > 1 else windows.expand(2, -1, -1)
    return Plan(
        Graph(model, lengths_out=False), [(batch,), (windows[-1:],)], (["window"], ["forecast"]),
        {"window": {0: "batch"}},
        ([f"window (batch, {seq_len}, {len(columns)}) float32: the last {seq_len} rows of columns "
          f"{', '.join(columns)}, standardised with the training mean and std"],
         [forecast_description(model.head, info)]),
        where,
        ["scaling: (x - mean) / std before the graph and forecast * std + mean after it (the training "
         "statistics, stored in the file's metadata); cutting the window from a CSV and the future dates"])


def test_recordings(info: dict) -> tuple[list, str]:
    """Two test recordings of the data a speech checkpoint was trained on (their audio at the
    model's rate, and what they are): a corpus's first two test utterances, FSDD's two first
    index-0 recordings, or a class folder's first two files."""
    from seqkit.data.audio import read_audio
    from seqkit.data.classes import find_classes
    from seqkit.data.fsdd import NAME
    from seqkit.data.root import locate_folder
    from seqkit.data.splits import read_splits

    data, rate = _data(info, "recording"), info["sample_rate"]
    if info.get("data_module") == "CorpusData":
        keys = inspect.signature(read_splits).parameters  # the data settings that name the splits
        picked = read_splits(**{k: data[k] for k in keys if k in data})["test"][:2]
        return ([read_audio(u.audio, rate, u.start, u.end) for u in picked],
                f"test utterances {' and '.join(u.id for u in picked)} (a padded batch, then the first alone)")
    folder = locate_folder(data["path"])
    files = sorted(p for p in folder.iterdir() if NAME.match(p.name) and NAME.match(p.name).group(3) == "0")[:2]
    kind = "FSDD test recordings"
    if len(files) < 2 and any(p.is_dir() for p in folder.iterdir()):  # a class folder
        files, kind = [folder / f for names in find_classes(folder).values() for f in names][:2], "recordings"
    if len(files) < 2:
        raise SeqkitError(f"{folder}: no two test recordings to check with; pass --input FILE")
    return [read_audio(f, rate) for f in files], \
        f"{kind} {files[0].name} and {files[1].name} (a padded batch, then the first alone)"


def audio_plan(model, info: dict, source: Path | None) -> Plan:
    from seqkit.data.audio import pad_waves, read_audio

    rate, n_fft = info["sample_rate"], model.frontend.n_fft
    if source is None:
        clips, where = test_recordings(info)
    else:
        whole = read_audio(source, rate)
        clips = [whole, whole[: int(len(whole) * 0.6)]]
        where = f"{source.name} and its first 60% (a padded batch), then {source.name} alone"
    clips = [torch.nn.functional.pad(torch.from_numpy(c), (0, max(0, n_fft - len(c)))) for c in clips]
    audio, lengths = pad_waves(clips)  # at least one analysis window each, (B, T, 1)
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
    return Plan(Graph(model, lengths_out=ctc), [(audio, lengths), (audio[:1, : int(lengths[0])], lengths[:1])],
                 (["audio", "lengths"], outputs), {"audio": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}},
                 described, where, [f"reading audio files, mixing to mono and resampling to {rate} Hz", decoding],
                 min_sizes={"samples": n_fft})


def token_plan(model, info: dict, source: Path | None) -> Plan:
    from seqkit.data.root import locate
    from seqkit.data.text import read_text, split_text
    from seqkit.data.tokenizers import tokenizer_from_data

    tokenizer = tokenizer_from_data(info["tokenizer"])
    if source is None:
        data = _data(info, "text")
        text = split_text(read_text(locate(data["path"])), data.get("train_fraction", 0.9))[1][:4000]  # validation
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
        return Plan(Graph(model, lengths_out=False), [(first,), (second,)], (["tokens"], ["logits"]),
                     {"tokens": {0: "batch", 1: "steps"}},
                     (["tokens (batch, steps) int64: token ids"], [f"logits (batch, steps, {vocab}) float32"]),
                     f"{where}: two chunks", ["the tokenizer (encode and decode) and sampling"])
    lstm = backend.cell == "lstm"
    layers, hidden = len(backend.forward_layers), backend.out_dim
    states = ["h", "c"] if lstm else ["h"]
    zeros = [torch.zeros(layers, streams, hidden) for _ in states]  # distinct: the exporter merges a tensor given twice
    return Plan(
        TokenStep(model), [(first, *zeros), (second,)],
        (["tokens", *states], ["logits", *[f"next_{s}" for s in states]]),
        {"tokens": {0: "batch", 1: "steps"}, **{s: {1: "batch"} for s in states}},
        (["tokens (batch, steps) int64: token ids, each row continuing the row of the previous call",
          *[f"{s} (layers={layers}, batch, {hidden}) float32: recurrent state, zeros to start" for s in states]],
         [f"logits (batch, steps, {vocab}) float32: next-token scores",
          *[f"next_{s}: the state {s} to pass with the next tokens" for s in states]]),
        f"{where}: {streams} stream(s), {steps} then {second.shape[1]} tokens, the state carried",
        ["the tokenizer (encode and decode; units in the file's metadata) and sampling (temperature, top-k)"],
        chain=True)


def plan(model, info: dict, source: Path | None) -> Plan:
    if source is not None and not source.is_file():
        raise SeqkitError(f"--input {source}: no such file")
    if not hasattr(model, "frontend"):
        raise SeqkitError("an ensemble checkpoint is exported member by member: export the checkpoints it was "
                          "made of")
    frontend = model.frontend
    if isinstance(frontend, Segmenter):
        return series_plan(model, info, source)
    if isinstance(frontend, ConvSpectrogram) and isinstance(model.head, (CTC, Classify)):
        return audio_plan(model, info, source)
    if isinstance(frontend, Embedding):
        return token_plan(model, info, source)
    raise SeqkitError(f"no export for a {type(frontend).__name__} front-end with a {type(model.head).__name__} head")
