"""Inference from a checkpoint: re-test it, or forecast the steps after the end of a CSV."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqkit.checkpoint import load_model, resolve
from seqkit.data import DATAMODULES
from seqkit.data.series import read_csv
from seqkit.errors import SeqkitError
from seqkit.task import Task
from seqkit.training import make_trainer

WARPS = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)  # the factors `choose_warp` tries


def parse_warp(value: str | float | None) -> float | str | None:
    """A ``--warp`` value: None (no warp), ``"auto"``, or a factor between 0.5 and 2."""
    if value is None or value == "auto":
        return value
    try:
        factor = float(value)
    except ValueError:
        factor = math.nan
    if not 0.5 <= factor <= 2.0:
        raise SeqkitError(f"--warp must be auto or a frequency factor between 0.5 and 2 (0.9: formants 10% "
                          f"lower), got {value!r}")
    return factor


def choose_warp(model, batches: list[tuple[torch.Tensor, torch.Tensor]],
                factors: tuple[float, ...] = WARPS) -> tuple[float, dict[float, float]]:
    """Vocal tract length normalisation without transcripts: the frequency warp of the front-end's
    spectrum (`ConvSpectrogram.warp`) under which `model` is most confident about the audio of
    `batches` ((inputs, lengths) pairs, one speaker): the highest mean log-probability of the most
    likely unit per output frame (per utterance for a word classifier). Leaves the model set to it;
    returns it and every factor's score."""
    _check_warp(model)
    scores = {}
    for factor in factors:
        model.frontend.warp = factor
        total, count = 0.0, 0
        for inputs, lengths in batches:
            with torch.no_grad():
                sums, frames = best_unit_log_probs(*model(inputs, lengths))
            total, count = total + float(sums.sum()), count + int(frames.sum())
        scores[factor] = total / max(count, 1)
    model.frontend.warp = max(scores, key=scores.get)
    return model.frontend.warp, scores


def best_unit_log_probs(outputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per utterance of a batch of model outputs: the log-probability of the most likely unit,
    summed over its frames, and the number of frames (a word classifier's (B, classes) outputs:
    one per utterance). Their ratio is the model's confidence.

    Example:
        >>> lp = torch.log(torch.tensor([[[.5, .5], [.9, .1], [.2, .8]]]))  # 3 frames, 2 units
        >>> sums, frames = best_unit_log_probs(lp, torch.tensor([2]))  # the third frame is padding
        >>> round(float(sums[0]), 4) == round(math.log(.5) + math.log(.9), 4), frames.tolist()
        (True, [2])
    """
    best = outputs.float().log_softmax(-1).max(-1).values  # (B, T) per frame, or (B,) per utterance
    if best.dim() == 1:
        return best, torch.ones_like(best)
    inside = torch.arange(best.shape[1], device=best.device)[None, :] < lengths[:, None]
    return best.masked_fill(~inside, 0.0).sum(1), inside.sum(1)


def set_warp(model, warp: float | str | None, batches) -> None:
    """Apply a `parse_warp` value to `model`'s front-end: None leaves it as it is, a factor sets
    it, ``"auto"`` sets the one `choose_warp` finds over `batches` (read only then)."""
    if warp == "auto":
        choose_warp(model, list(batches))
    elif warp is not None:
        _check_warp(model)
        model.frontend.warp = float(warp)


def _check_warp(model) -> None:
    from seqkit.ensemble import Ensemble

    if isinstance(model, Ensemble):
        raise SeqkitError("--warp warps one model's spectrum; an ensemble's members keep the warps they were "
                          "saved with (give no --warp, or warp a single model)")
    if not hasattr(model.frontend, "warp"):
        raise SeqkitError(f"--warp warps a spectrogram: it needs a conv_spectrogram front-end, not "
                          f"{type(model.frontend).__name__}")


def evaluate(target: str | Path, lexicon: list[str] | None = None, lm: str | Path | None = None,
             lm_weight: float = 0.3, warp: float | str | None = None) -> dict[str, float]:
    """Re-compute a checkpoint's test metrics on the data its config names.

    Args:
        target: a checkpoint, or a run directory (its best checkpoint is used).
        lexicon: speech: the beam-search scores spell only these words (`seqkit.Lexicon`).
        lm: speech: a language-model checkpoint over the same units, fused into the beam search.
        lm_weight: the weight of its log-probabilities.
        warp: speech: warp the spectrum's frequencies by this factor, or ``"auto"``: by the one
            `choose_warp` finds on the test audio (no transcripts; meant for one held-out speaker);
            the factor is reported as ``warp``.
    """
    warp = parse_warp(warp)
    model, info = load_model(resolve(target))
    if warp is not None:
        _check_warp(model)  # before the data is read
    cfg = info["config"]
    module = DATAMODULES[cfg["task"]]
    kept = {}
    if "tokenizer" in info and "tokenizer" in inspect.signature(module).parameters:
        kept["tokenizer"] = info["tokenizer"]  # the checkpoint's own, never a re-trained one
    data = module(**cfg["data"], **kept)
    if lexicon is not None or lm is not None:
        if not hasattr(model.head, "constrain"):
            raise SeqkitError(f"{target}: --lexicon and --lm change a speech model's beam search; this is a "
                              f"{info.get('recipe')} checkpoint")
        _set_beam_search(model.head, data.tokenizer, lexicon, lm, lm_weight)
    set_warp(model, warp, ((b["inputs"], b["input_lengths"]) for b in data.test_dataloader()))
    task = Task(model, **cfg["train"], info=info)
    settings = {k: v for k, v in cfg["trainer"].items() if k not in ("max_epochs",)}
    settings["enable_progress_bar"] = False
    trainer = make_trainer(settings, run_dir=None)
    scores = trainer.test(task, datamodule=data, verbose=False)[0]
    scores = {k.removeprefix("test/"): float(v) for k, v in scores.items()}
    return scores if warp is None else {**scores, "warp": model.frontend.warp}


def future_dates(dates: pd.Series, steps: int, source: Path) -> pd.DatetimeIndex:
    """The `steps` timestamps after the last of `dates`, at the frequency the dates follow."""
    if len(dates) < 2:
        raise SeqkitError(f"{source}: need at least two dates to infer the frequency")
    tail = pd.DatetimeIndex(dates.iloc[-min(len(dates), 200):])
    if not tail.is_monotonic_increasing or tail.has_duplicates:
        raise SeqkitError(f"{source}: dates must be strictly increasing to infer the frequency")
    freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is None:  # irregular tail: step by the most common gap
        freq = pd.Series(np.diff(tail.asi8)).mode().iloc[0]
        return pd.DatetimeIndex([tail[-1] + pd.Timedelta(int(freq) * (i + 1)) for i in range(steps)])
    return pd.date_range(tail[-1], periods=steps + 1, freq=freq)[1:]


def forecast_csv(checkpoint: str | Path, csv: str | Path, out: str | Path | None = None) -> Path:
    """Forecast the ``pred_len`` steps after the end of `csv` and write them as CSV with dates.

    Args:
        checkpoint: a forecasting checkpoint (or its run directory).
        csv: a CSV with a ``date`` column and the columns the model was trained on.
        out: the CSV to write (default ``<csv name>_forecast.csv`` in the current folder); an
            existing file is never overwritten.
    """
    csv = Path(csv)
    if not csv.is_file():
        raise SeqkitError(f"CSV {csv} not found")
    out = Path(out) if out else Path(f"{csv.stem}_forecast.csv")
    if out.exists():
        raise SeqkitError(f"{out} already exists; pass another --out")
    if not out.parent.is_dir():
        raise SeqkitError(f"--out {out}: folder {out.parent} does not exist; create it or pass another --out")
    model, info = load_model(resolve(checkpoint))
    if info.get("recipe") != "ltsf":
        raise SeqkitError(f"{checkpoint} is a {info.get('recipe')} checkpoint, not a forecasting one")
    dates, values, columns = read_csv(csv)
    missing = [c for c in info["columns"] if c not in columns]
    if missing:
        raise SeqkitError(f"{csv}: missing column(s) {', '.join(missing)} the model was trained on")
    seq_len = info["seq_len"]
    if len(values) < seq_len:
        raise SeqkitError(f"{csv}: {len(values)} rows, the model needs the last {seq_len}")
    values = values[:, [columns.index(c) for c in info["columns"]]]
    mean, std = np.asarray(info["scaler"]["mean"]), np.asarray(info["scaler"]["std"])
    window = torch.from_numpy(((values[-seq_len:] - mean) / std).astype(np.float32)).unsqueeze(0)
    with torch.no_grad():
        forecast = model(window)[0][0].numpy() * std + mean  # (H, C) on the original scale
    stamps = future_dates(dates, forecast.shape[0], csv)
    frame = pd.DataFrame(forecast, columns=info["columns"])
    frame.insert(0, "date", stamps.strftime("%Y-%m-%d %H:%M:%S"))
    partial = out.with_name(f".{out.name}.partial")  # renamed when complete: never half a forecast
    frame.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(out)
    return out


def transcribe(checkpoint: str | Path, files: list[str | Path], beam: int = 1,
               batch_size: int = 32, lm: str | Path | None = None, lm_weight: float = 0.3,
               choices: list[str] | None = None, equalize: str = "together",
               lexicon: list[str] | None = None, warp: float | str | None = None) -> list[dict]:
    """Transcribe audio files of any sample rate and channel count with a speech checkpoint.

    Returns one ``{"file", "text"}`` or ``{"file", "error"}`` per file, in order: a file that
    cannot be read gets its one-line error and the others are still transcribed. With `lm` (a
    language-model checkpoint over the same units), the beam search fuses its scores; with
    `lexicon` (words), it spells only those words (`seqkit.Lexicon`). With
    `choices` (transcripts, such as the ten digit words), each file's text is the most likely of
    them under the model (`seqkit.CTC.choose`), with its log-likelihood as ``"log_likelihood"``.
    A word classifier (recipes/kws) gives each file its most probable word (of `choices`, if
    given) and that word's ``"probability"``.
    A model trained with ``data.equalize`` hears every file filtered to its training speakers'
    average spectrum: the files' own average spectrum is estimated from all of them ``together``
    (one speaker and microphone, the default) or from ``each`` file alone.
    With `warp` (a factor, or ``"auto"``: the one `choose_warp` finds over all the files, which
    should then be one speaker's), the spectrum's frequencies are warped before the mel bands and
    every result says by how much (``"warp"``).
    """
    warp = parse_warp(warp)
    from seqkit.data.audio import batched, read_audio
    from seqkit.data.text import tokenizer_from_data

    model, info = load_model(resolve(checkpoint))
    if info.get("recipe") not in ("asr", "kws"):
        raise SeqkitError(f"{checkpoint} is a {info.get('recipe')} checkpoint, not a speech one")
    classify = info["recipe"] == "kws"  # one word per file, from the classifier's classes
    if classify and (beam > 1 or lm is not None or lexicon is not None):
        raise SeqkitError(f"{checkpoint} is a word classifier (kws): it takes no --beam, --lm or --lexicon")
    if equalize not in ("together", "each"):
        raise SeqkitError(f"--equalize must be together or each, got {equalize!r}")
    tokenizer = tokenizer_from_data(info["tokenizer"])
    if lm is not None and beam <= 1:
        raise SeqkitError("a language model fuses into the beam search: give --beam 2 or more with --lm")
    if lexicon is not None and beam <= 1:
        raise SeqkitError("a lexicon restricts the beam search: give --beam 2 or more with --lexicon")
    _set_beam_search(model.head, tokenizer, lexicon, lm, lm_weight)
    if choices is not None:
        if lm is not None or beam > 1:
            raise SeqkitError("--choices scores every choice over all its alignments: it takes no --beam or --lm")
        choices, choice_ids = _encoded_choices(choices, tokenizer, classify)

    def label(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[dict]:
        """What each row of a batch's model output says: text and, if any, its score."""
        if classify:  # (B, classes) logits; with choices, the best of those classes
            probs = log_probs.softmax(-1)
            allowed = torch.zeros(probs.shape[-1], dtype=torch.bool)
            allowed[[c[0] for c in choice_ids] if choices is not None else slice(None)] = True
            best = probs.masked_fill(~allowed, -1.0).argmax(-1).tolist()
            return [{"text": tokenizer.decode([c]), "probability": round(float(probs[row, c]), 4)}
                    for row, c in enumerate(best)]
        if choices is not None:
            return [{"text": choices[pick], "log_likelihood": round(score, 4)} if score > -math.inf
                    else {"error": "too short for any of the choices"}
                    for pick, score in zip(*model.head.choose(log_probs, lengths, choice_ids))]
        return [{"text": tokenizer.decode(units)} for units in model.head.decode(log_probs, lengths, beam)]

    results: list[dict] = [{"file": str(f)} for f in files]
    audio = {}
    for k, f in enumerate(files):
        try:
            audio[k] = read_audio(Path(f), info["sample_rate"])
        except SeqkitError as err:
            results[k]["error"] = str(err)
    if "equalize_reference" in info:
        audio = _equalized(audio, np.asarray(info["equalize_reference"]), together=equalize == "together")
    batches = batched(audio, batch_size)
    set_warp(model, warp, (batch[1:] for batch in batches))
    for ids, inputs, lengths in batches:
        with torch.no_grad():
            outputs = label(*model(inputs, lengths))
        for k, output in zip(ids, outputs):
            if warp is not None:
                output["warp"] = model.frontend.warp
            if "error" in output:
                output["error"] = f"{files[k]}: {output['error']}"
            results[k].update(output)
    return results


def _set_beam_search(head, tokenizer, lexicon: list[str] | None, lm: str | Path | None, lm_weight: float) -> None:
    """Make a CTC head's beam search spell only the words of `lexicon` and fuse the language model
    `lm` (a checkpoint over the same units), each if given."""
    from seqkit.blocks.ctc import Lexicon
    from seqkit.data.text import unit_texts
    from seqkit.fusion import LanguageModelScorer

    if lm is not None:
        head.fuse(LanguageModelScorer.from_checkpoint(lm, unit_texts(tokenizer), lm_weight))
    if lexicon is not None:
        head.constrain(Lexicon.of(lexicon, tokenizer, "--lexicon"))


def _encoded_choices(choices: list[str], tokenizer, classify: bool) -> tuple[list[str], list[list[int]]]:
    """`choices` with their spaces tidied, and their units; one-line errors for what cannot be one."""
    choices = [" ".join(c.split()) for c in choices]
    if not choices or not all(choices):
        raise SeqkitError(f"--choices needs one or more non-empty transcripts, got {choices!r}")
    try:
        ids = [tokenizer.encode(c) for c in choices]
    except SeqkitError as err:
        raise SeqkitError(f"--choices: {err}") from None
    if classify and any(len(c) != 1 for c in ids):
        raise SeqkitError(f"--choices: a word classifier (kws) chooses among its words "
                          f"({tokenizer.decode(range(tokenizer.vocab_size))}), one per choice")
    return choices, ids


def _equalized(audio: dict, reference: np.ndarray, together: bool) -> dict:
    """Each wave of `audio` filtered to the `reference` spectrum, from the average spectrum of all
    of them (one speaker) or of each alone (`seqkit.data.audio.equalize_speakers`)."""
    from seqkit.data.audio import average_spectrum, equalize, equalizer

    shared = average_spectrum(list(audio.values())) if together and audio else None
    return {k: equalize(wave, equalizer(shared if together else average_spectrum([wave]), reference))
            for k, wave in audio.items()}
