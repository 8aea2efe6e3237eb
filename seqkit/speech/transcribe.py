"""``seqkit transcribe``: audio files to text and word timings with a speech checkpoint (a CTC
recogniser, or a word classifier's one word per file); files longer than a window in chunks
(`seqkit.speech.chunks`), each word's start and end from the CTC alignment (`seqkit.speech.timings`)."""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

import numpy as np
import torch

from seqkit.checkpoint import load_model, resolve
from seqkit.data.audio import batched, pad_waves, read_audio
from seqkit.data.equalize import equalize, equalize_waves, equalizer
from seqkit.data.tokenizers import tokenizer_from_data
from seqkit.errors import SeqkitError
from seqkit.model import describe, head_name, members_of
from seqkit.speech.beam import check_beam, set_beam_search
from seqkit.speech.chunks import audio_seconds, check_window, chunks, joined, long_spectrum
from seqkit.speech.timings import WordTimer, frame_seconds
from seqkit.speech.warp import parse_warp, set_warp

log = logging.getLogger("seqkit")

SPEECH_HEADS = ("ctc", "classify")  # the heads of models that hear audio and give words


def check_speech(model, target) -> str:
    """The head name of a speech model (ctc or classify); a one-line error for any other model."""
    name = head_name(model)
    if name not in SPEECH_HEADS:
        raise SeqkitError(f"{target} is {describe(model)}, not a speech model (a ctc or classify head)")
    return name


def analysis_window(model) -> int:
    """Samples of the model's analysis window (its front-end's ``n_fft``; the widest of an
    ensemble's members), 0 for a front-end that has none."""
    return max(getattr(member.frontend, "n_fft", 0) for member in members_of(model))


def too_short(samples: int, window: int, sample_rate: int) -> str | None:
    """A warning for audio of `samples` samples shorter than one analysis window of `window` samples,
    which the model hears padded with silence: what it answers is a guess; None if long enough.

    Example:
        >>> too_short(48, 200, 8000)
        '6 ms of audio, shorter than one 25 ms analysis window of the model: the answer is a guess'
    """
    if samples >= window:
        return None
    return (f"{1000 * samples / sample_rate:.3g} ms of audio, shorter than one {1000 * window / sample_rate:.3g} ms "
            f"analysis window of the model: the answer is a guess")


def read_recordings(files: list, info: dict, together: bool = True) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """The audio of `files` as the checkpoint `info` hears it: mono at its sample rate and, for a
    model trained with ``data.equalize``, filtered to its training speakers' average spectrum (the
    files' own average from all of them ``together``, or from each alone). Returns the waves and the
    one-line errors of the files that cannot be read, each by the file's position in `files`."""
    audio, errors = {}, {}
    for k, f in enumerate(files):
        try:
            audio[k] = read_audio(Path(f), info["sample_rate"])
        except SeqkitError as err:
            errors[k] = str(err)
    if "equalize_reference" in info:
        audio = equalize_waves(audio, np.asarray(info["equalize_reference"]), together=together)
    return audio, errors


def transcribe(checkpoint: str | Path, files: list[str | Path], beam: int = 1,
               batch_size: int = 32, lm: str | Path | None = None, lm_weight: float = 0.3,
               choices: list[str] | None = None, equalize: str = "together",
               lexicon: list[str] | None = None, warp: float | str | None = None,
               window: float = 30.0) -> list[dict]:
    """Transcribe audio files of any sample rate, channel count and length with a speech checkpoint.

    Returns one ``{"file", "text", "words"}`` or ``{"file", "error"}`` per file, in order: a file
    that cannot be read gets its one-line error and the others are still transcribed. ``"words"``
    lists ``{"word", "start", "end"}`` (seconds from the file's start, in order): where the CTC
    alignment of the text puts each word (`seqkit.speech.timings`); a word classifier's one word
    spans the whole file. A file shorter
    than the model's analysis window (``n_fft`` samples of its front-end) is heard padded with
    silence: its result also says so in ``"warning"`` (and the warning is logged). With `lm` (a
    language-model checkpoint over the same units), the beam search fuses its scores; with
    `lexicon` (words), it spells only those words (`seqkit.Lexicon`). With
    `choices` (transcripts, such as the ten digit words), each file's text is the most likely of
    them under the model (`seqkit.CTC.choose`), with its log-likelihood as ``"log_likelihood"``.
    A word classifier (a classify head, as recipes/kws trains) gives each file its most probable
    word (of `choices`, if given) and that word's ``"probability"``.
    A model trained with ``data.equalize`` hears every file filtered to its training speakers'
    average spectrum: the files' own average spectrum is estimated from all of them ``together``
    (one speaker and microphone, the default) or from ``each`` file alone.
    With `warp` (a factor, or ``"auto"``: the one `choose_warp` finds over all the files, which
    should then be one speaker's), the spectrum's frequencies are warped before the mel bands and
    every result says by how much (``"warp"``).

    A file longer than `window` seconds is read, decoded and joined chunk by chunk
    (`seqkit.speech.chunks`: cut at quiet points, words of the context margins dropped), so memory
    stays that of one window however long the file; its text is its words joined by spaces, and
    the beam's language model starts afresh in each chunk. Such a file is equalised from its own
    average spectrum (streamed over its chunks) whatever `equalize` says, and ``warp="auto"``
    scores only its first chunk; `choices` and a word classifier, which take a file as one
    utterance, give it an error naming `window`.
    """
    warp, window = parse_warp(warp), check_window(window)
    model, info = load_model(resolve(checkpoint))
    classify = check_speech(model, checkpoint) == "classify"  # one word per file, from the classes
    if classify and (beam != 1 or lm is not None or lexicon is not None):
        raise SeqkitError(f"{checkpoint} is a word classifier (kws): it takes no --beam, --lm or --lexicon")
    if equalize not in ("together", "each"):
        raise SeqkitError(f"--equalize must be together or each, got {equalize!r}")
    tokenizer = tokenizer_from_data(info["tokenizer"])
    check_beam(beam, lm, lexicon)
    if not classify:
        set_beam_search(model.head, tokenizer, lexicon, lm, lm_weight)
    if choices is not None:
        if lm is not None or beam > 1:
            raise SeqkitError("--choices scores every choice over all its alignments: it takes no --beam or --lm")
        choices, choice_ids = encoded_choices(choices, tokenizer, classify)
    rate = info["sample_rate"]
    timer = WordTimer(tokenizer, frame_seconds(model)) if not classify else None

    def label(inputs: torch.Tensor, lengths: torch.Tensor, offset: float = 0.0) -> list[dict]:
        """What the model hears in each row of a batch: text, its words' timings and any score."""
        with torch.no_grad():
            log_probs, frames = model(inputs, lengths)
        if classify:
            found = classes(log_probs, tokenizer, [c[0] for c in choice_ids] if choices is not None else None)
            return [{**row, "words": [{"word": row["text"], "start": 0.0, "end": round(n / rate, 3)}]}
                    for row, n in zip(found, lengths.tolist())]
        if choices is not None:
            heard = [({"text": choices[pick], "log_likelihood": round(score, 4)}, choice_ids[pick])
                     if score > -math.inf else ({"error": "too short for any of the choices"}, None)
                     for pick, score in zip(*model.head.choose(log_probs, frames, choice_ids))]
        else:
            heard = [({"text": tokenizer.decode(units)}, units) for units in model.head.decode(log_probs, frames, beam)]
        for row, (output, units) in enumerate(heard):
            if units is not None:
                output["words"] = timer.words(log_probs[row, :frames[row]], units, offset, int(lengths[row]) / rate)
        return [output for output, _ in heard]

    results: list[dict] = [{"file": str(f)} for f in files]
    seconds = [audio_seconds(f) for f in files]
    long = [k for k, s in enumerate(seconds) if s is not None and s > window]
    short = [k for k in range(len(files)) if k not in long]
    audio, errors = read_recordings([files[k] for k in short], info, together=equalize == "together")
    audio, errors = {short[k]: w for k, w in audio.items()}, {short[k]: e for k, e in errors.items()}
    if long and (classify or choices is not None):
        what = "a word classifier hears" if classify else "--choices scores"
        errors.update({k: f"{files[k]}: {seconds[k]:.1f} s, longer than --window {window:g}: {what} a file as "
                          f"one utterance; give --window {math.ceil(seconds[k])} or more" for k in long})
        long = []
    for k, error in errors.items():
        results[k]["error"] = error
    gains = {}
    for k in list(long) if "equalize_reference" in info else []:
        try:
            gains[k] = equalizer(long_spectrum(files[k], rate, window), np.asarray(info["equalize_reference"]))
        except SeqkitError as err:
            results[k]["error"] = str(err)
            long.remove(k)
    pieces = {k: heard_chunks(files[k], rate, window, gains.get(k)) for k in long}
    batches = batched(audio, batch_size)
    set_warp(model, warp, itertools.chain((batch[1:] for batch in batches),
                                          (pad_waves([chunk.audio]) for k in long
                                           for chunk in itertools.islice(pieces[k](), 1))))
    for ids, inputs, lengths in batches:
        for k, output in zip(ids, label(inputs, lengths)):
            if "error" in output:
                output["error"] = f"{files[k]}: {output['error']}"
            results[k].update(output)
    for k in long:  # chunk by chunk: one chunk's audio and model output in memory at a time
        try:
            results[k].update(joined((chunk, label(*pad_waves([chunk.audio]), chunk.offset)[0]["words"])
                                     for chunk in pieces[k]()))
        except SeqkitError as err:
            results[k]["error"] = str(err)
    for k in [*audio, *long] if warp is not None else []:
        results[k]["warp"] = model.frontend.warp
    for k, wave in audio.items():  # after the answer: {"file", "text", ..., "warning"}
        warning = too_short(len(wave), analysis_window(model), rate)
        if warning:
            results[k]["warning"] = warning
            log.warning("warning: %s: %s", files[k], warning)
    return results


def heard_chunks(path, rate: int, window: float, gain: np.ndarray | None = None):
    """A function that gives the chunks of a long file afresh each call (`seqkit.speech.chunks`),
    filtered by an equaliser's `gain` if given."""
    def each():
        for chunk in chunks(path, rate, window):
            if gain is not None:
                chunk.audio = equalize(chunk.audio, gain)
            yield chunk
    return each


def classes(logits: torch.Tensor, tokenizer, allowed: list[int] | None = None) -> list[dict]:
    """A word classifier's answer for each row of (B, classes) logits: the most probable class (of
    `allowed`, if given) as text, and its probability.

    Example:
        >>> from seqkit.data.tokenizers import WordTokenizer
        >>> classes(torch.tensor([[0.0, 2.0], [3.0, 0.0]]), WordTokenizer(["no", "yes"]), allowed=[1])
        [{'text': 'yes', 'probability': 0.8808}, {'text': 'yes', 'probability': 0.0474}]
    """
    probs = logits.softmax(-1)
    mask = torch.zeros(probs.shape[-1], dtype=torch.bool)
    mask[allowed if allowed is not None else slice(None)] = True
    best = probs.masked_fill(~mask, -1.0).argmax(-1).tolist()
    return [{"text": tokenizer.decode([c]), "probability": round(float(probs[row, c]), 4)}
            for row, c in enumerate(best)]


def encoded_choices(choices: list[str], tokenizer, classify: bool) -> tuple[list[str], list[list[int]]]:
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
