"""The speech commands: transcribe, adapt, ensemble."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from seqkit.cli.app import LEXICON_HELP, LM, LM_WEIGHT, WARP_HELP, app, words

PANEL = "Speech"


@app.command(rich_help_panel=PANEL)
def transcribe(
    checkpoint: Path = typer.Argument(..., help="A speech checkpoint or its run directory."),
    files: list[Path] = typer.Argument(..., help="Audio files (wav, flac, ...): any sample rate and channels."),
    beam: int = typer.Option(1, "--beam", help="Beam width; 1 decodes greedily."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines: {file, text, words} or {file, error}; "
                                  "words: [{word, start, end}] in seconds, from the CTC alignment of the text "
                                  "(a kws model's word spans the file); with --choices also log_likelihood, "
                                  "for a kws model probability."),
    lm: Path = LM,
    lm_weight: float = LM_WEIGHT,
    choices: str = typer.Option(None, "--choices", help="Comma-separated transcripts, e.g. "
                                "'zero,one,two': print the most likely of them for each file (isolated "
                                "words from a closed vocabulary), scored over all CTC alignments."),
    lexicon: str = typer.Option(None, "--lexicon", help=f"{LEXICON_HELP}."),
    equalize: str = typer.Option("together", "--equalize", help="For a model trained with data.equalize: "
                                 "estimate the speaker's average spectrum from all the files 'together' (one "
                                 "speaker) or from 'each' file alone."),
    warp: str = typer.Option(None, "--warp", help=f"{WARP_HELP}; over all the files (give one speaker's; "
                             "of a file longer than --window, its first chunk)."),
    window: float = typer.Option(30.0, "--window", help="Seconds of audio decoded at once (at least 1). A longer "
                                 "file is cut into chunks at the quietest 20 ms near each window's end, decoded "
                                 "one by one with a margin of context each side (a tenth of the window, at most "
                                 "0.5 s; its words dropped) and joined: memory stays that of one window. Such a "
                                 "file is equalised from its own spectrum; --choices and kws models refuse it."),
) -> None:
    """Print one transcript per audio file (a word classifier: the word); --json adds word timings.

    A file that cannot be read gets an error line on stderr, and the exit status is then 1. Files of any length: one longer than --window is transcribed in chunks cut at quiet points.
    """  # noqa: E501 (one line per paragraph: --help reflows it)
    from seqkit.speech.transcribe import transcribe as run_transcribe

    results = run_transcribe(checkpoint, files, beam=beam, lm=lm, lm_weight=lm_weight, choices=words(choices),
                             equalize=equalize, lexicon=words(lexicon), warp=warp, window=window)
    for result in results:
        if as_json:
            print(json.dumps(result))
        elif "error" in result:
            print(f"error: {result['error']}", file=sys.stderr)
        else:
            warning = f"\t(warning: {result['warning']})" if "warning" in result else ""
            print(f"{result['file']}\t{result['text']}{warning}")
    if any("error" in r for r in results):
        raise typer.Exit(1)


@app.command(rich_help_panel=PANEL)
def adapt(
    checkpoint: Path = typer.Argument(..., help="A speech recogniser's checkpoint (a ctc head) or its run directory."),
    files: list[Path] = typer.Argument(..., help="One new speaker's recordings, untranscribed (any rate, channels)."),
    out: Path = typer.Option(..., "--out", "-o", help="The adapted checkpoint to write (must not exist)."),
    rounds: int = typer.Option(4, "--rounds", help="Transcribe-and-fine-tune rounds."),
    epochs: int = typer.Option(3, "--epochs", help="Fine-tuning epochs per round."),
    keep: float = typer.Option(0.7, "--keep", help="Fraction of the recordings fine-tuned on each round, "
                               "those the model is most confident about."),
    lr: float = typer.Option(3e-4, "--lr", help="Learning rate of the fine-tuning (AdamW)."),
    beam: int = typer.Option(8, "--beam", help="Beam width of the transcription."),
    lexicon: str = typer.Option("config", "--lexicon", help=f"{LEXICON_HELP}; 'config': the recipe's "
                                "decode.lexicon; 'none': any."),
    lm: Path = LM,
    lm_weight: float = LM_WEIGHT,
    warp: str = typer.Option("auto", "--warp", help="Warp the spectrum first: 'auto' (the factor the model is "
                             "most confident under), a factor, or 'none'."),
    seed: int = typer.Option(0, "--seed", help="Seeds the batch order and augmentation."),
) -> None:
    """Adapt a speech model to a new speaker from their untranscribed recordings (self-training).

    Each round the model transcribes the files, keeps those it is most sure of, and is fine-tuned on its own transcripts of them. Then transcribe that speaker with the adapted checkpoint.

    Example: seqkit adapt runs/asr/<run> new_speaker/*.wav --out new_speaker.ckpt
    """  # noqa: E501 (one line per paragraph: --help reflows it)
    from seqkit.speech.adapt import adapt as run_adapt
    from seqkit.speech.warp import parse_warp

    spelled = None if lexicon == "none" else lexicon if lexicon == "config" else words(lexicon)
    report = run_adapt(checkpoint, files, out, lexicon=spelled, lm=lm, lm_weight=lm_weight, rounds=rounds,
                       epochs=epochs, keep=keep, lr=lr, beam=beam, seed=seed,
                       warp=None if warp == "none" else parse_warp(warp))
    last = report["rounds"][-1]
    print(f"wrote {out}: {rounds} round(s) over {report['utterances']} recordings, {last['kept']} fine-tuned on "
          f"in the last, warp {report['warp']}")


@app.command(rich_help_panel=PANEL)
def ensemble(
    checkpoints: list[Path] = typer.Argument(..., help="Two or more speech checkpoints or run directories with "
                                             "the same units, sample rate and frame rate."),
    out: Path = typer.Option(..., "--out", "-o", help="The ensemble checkpoint to write (must not exist)."),
) -> None:
    """Combine speech models into one checkpoint that averages their log-probabilities per frame.

    transcribe, eval and adapt take the ensemble like any checkpoint; adapt fine-tunes every member on the ensemble's transcripts. Decode it with --beam 2 or more: the members' spikes for a word need not fall on the same frame, and greedy decoding of the average can drop words.

    Example: seqkit ensemble runs/asr/<run1> runs/asr/<run2> --out both.ckpt
    """  # noqa: E501 (one line per paragraph: --help reflows it)
    from seqkit.speech.ensemble import save_ensemble

    info = save_ensemble(checkpoints, out)
    print(f"wrote {out}: an ensemble of {len(info['members'])} {info['recipe']} models")
