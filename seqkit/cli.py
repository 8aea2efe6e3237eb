"""The ``seqkit`` command: run recipes, evaluate and use checkpoints, list blocks and recipes."""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

import typer
from typer.exceptions import TyperException

from seqkit.errors import SeqkitError
from seqkit.recipes import bundled, find_recipe

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="CNN+RNN sequence models for speech, text and time series, composed from blocks.",
)

def _set_data_root(data_root: Path | None) -> None:
    if data_root is not None:
        os.environ["SEQKIT_DATA"] = str(data_root.expanduser().resolve())


DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the data sets (else $SEQKIT_DATA, else a cache).")


@app.command()
def run(
    recipe: str = typer.Argument(..., help="A recipe folder (recipes/ltsf) or a bundled recipe's name."),
    overrides: list[str] = typer.Argument(None, help="Settings to change, as key.subkey=value."),
    config: list[Path] = typer.Option([], "--config", "-c", help="Overlay YAML merged on top; repeatable."),
    data_root: Path = DATA_ROOT,
    resume: Path = typer.Option(None, "--resume", help="Continue this run directory from its last checkpoint "
                                "(give the run's own overrides and overlays)."),
) -> None:
    """Train, test and report a recipe; results go to a new run directory.

    Example: seqkit run recipes/ltsf data.pred_len=336 trainer.max_epochs=3 -c configs/debug.yaml
    After a crash: the same command with --resume runs/ltsf/<run> continues where it stopped.
    """
    from seqkit.recipes import run_recipe

    _set_data_root(data_root)
    run_recipe(recipe, overrides or [], config, resume=resume)


@app.command("eval")
def evaluate(
    target: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    data_root: Path = DATA_ROOT,
    lexicon: str = typer.Option(None, "--lexicon", help="Speech: comma-separated words; the beam-search "
                                "scores (wer_beam, cer_beam) spell only these."),
    lm: Path = typer.Option(None, "--lm", help="Speech: a language-model checkpoint fused into the beam search."),
    lm_weight: float = typer.Option(0.3, "--lm-weight", help="Weight of the language model's scores."),
    warp: str = typer.Option(None, "--warp", help="Speech: warp the spectrum's frequencies by a factor (0.9: "
                             "formants 10% lower), or 'auto': the factor of 0.8-1.2 the model is most confident "
                             "under on the test audio (for a held-out speaker; no transcripts used)."),
) -> None:
    """Re-compute the test metrics of a checkpoint (a run's best by default); prints JSON."""
    from seqkit.predict import evaluate as run_eval

    _set_data_root(data_root)
    words = lexicon.split(",") if lexicon is not None else None
    print(json.dumps(run_eval(target, lexicon=words, lm=lm, lm_weight=lm_weight, warp=warp), indent=2))


@app.command()
def predict(
    checkpoint: Path = typer.Argument(..., help="A forecasting checkpoint or its run directory."),
    csv: Path = typer.Option(..., "--csv", help="CSV with a date column and the training columns."),
    out: Path = typer.Option(None, "--out", "-o", help="CSV to write (default: <name>_forecast.csv here)."),
) -> None:
    """Forecast the pred_len steps after the end of a CSV, with future timestamps."""
    from seqkit.predict import forecast_csv

    written = forecast_csv(checkpoint, csv, out)
    print(f"wrote {written}")


@app.command()
def transcribe(
    checkpoint: Path = typer.Argument(..., help="A speech checkpoint or its run directory."),
    files: list[Path] = typer.Argument(..., help="Audio files (wav, flac, ...): any sample rate and channels."),
    beam: int = typer.Option(1, "--beam", help="Beam width; 1 decodes greedily."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines: {file, text} or {file, error}; "
                                  "with --choices also log_likelihood, for a kws model probability."),
    lm: Path = typer.Option(None, "--lm", help="A language-model checkpoint over the same units, fused into the beam."),
    lm_weight: float = typer.Option(0.3, "--lm-weight", help="Weight of the language model's scores."),
    choices: str = typer.Option(None, "--choices", help="Comma-separated transcripts, e.g. "
                                "'zero,one,two': print the most likely of them for each file (isolated "
                                "words from a closed vocabulary), scored over all CTC alignments."),
    lexicon: str = typer.Option(None, "--lexicon", help="Comma-separated words, e.g. 'zero,one,two': the "
                                "beam search (--beam 2 or more) spells only these words."),
    equalize: str = typer.Option("together", "--equalize", help="For a model trained with data.equalize: "
                                 "estimate the speaker's average spectrum from all the files 'together' (one "
                                 "speaker) or from 'each' file alone."),
    warp: str = typer.Option(None, "--warp", help="Warp the spectrum's frequencies by a factor (0.9: formants "
                             "10% lower), or 'auto': the factor of 0.8-1.2 the model is most confident under "
                             "over all the files (give one speaker's files): vocal tract length normalisation."),
) -> None:
    """Print one transcript per audio file (a kws model: the word); unreadable files get an error line
    and exit status 1."""
    from seqkit.predict import transcribe as run_transcribe

    options = choices.split(",") if choices is not None else None
    words = lexicon.split(",") if lexicon is not None else None
    results = run_transcribe(checkpoint, files, beam=beam, lm=lm, lm_weight=lm_weight, choices=options,
                             equalize=equalize, lexicon=words, warp=warp)
    for result in results:
        if as_json:
            print(json.dumps(result))
        elif "error" in result:
            print(f"error: {result['error']}", file=sys.stderr)
        else:
            print(f"{result['file']}\t{result['text']}")
    if any("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def adapt(
    checkpoint: Path = typer.Argument(..., help="A speech checkpoint (recipes/asr) or its run directory."),
    files: list[Path] = typer.Argument(..., help="One new speaker's recordings, untranscribed (any rate, channels)."),
    out: Path = typer.Option(..., "--out", "-o", help="The adapted checkpoint to write (must not exist)."),
    rounds: int = typer.Option(4, "--rounds", help="Transcribe-and-fine-tune rounds."),
    epochs: int = typer.Option(3, "--epochs", help="Fine-tuning epochs per round."),
    keep: float = typer.Option(0.7, "--keep", help="Fraction of the recordings fine-tuned on each round, "
                               "those the model is most confident about."),
    lr: float = typer.Option(3e-4, "--lr", help="Learning rate of the fine-tuning (AdamW)."),
    beam: int = typer.Option(8, "--beam", help="Beam width of the transcription."),
    lexicon: str = typer.Option("config", "--lexicon", help="Comma-separated words the transcription may "
                                "spell; 'config': the recipe's decode.lexicon; 'none': any."),
    lm: Path = typer.Option(None, "--lm", help="A language-model checkpoint fused into the transcription."),
    lm_weight: float = typer.Option(0.3, "--lm-weight", help="Weight of the language model's scores."),
    warp: str = typer.Option("auto", "--warp", help="Warp the spectrum first: 'auto' (the factor the model is "
                             "most confident under), a factor, or 'none'."),
    seed: int = typer.Option(0, "--seed", help="Seeds the batch order and augmentation."),
) -> None:
    """Adapt a speech model to a new speaker from their untranscribed recordings (self-training).

    Each round the model transcribes the files, keeps those it is most sure of, and is fine-tuned on its own transcripts of them. Then transcribe that speaker with the adapted checkpoint.

    Example: seqkit adapt runs/asr/<run> new_speaker/*.wav --out new_speaker.ckpt
    """  # noqa: E501 (one line per paragraph: --help reflows it)
    from seqkit.adapt import adapt as run_adapt
    from seqkit.predict import parse_warp

    words = None if lexicon == "none" else lexicon if lexicon == "config" else lexicon.split(",")
    report = run_adapt(checkpoint, files, out, lexicon=words, lm=lm, lm_weight=lm_weight, rounds=rounds,
                       epochs=epochs, keep=keep, lr=lr, beam=beam, seed=seed,
                       warp=None if warp == "none" else parse_warp(warp))
    last = report["rounds"][-1]
    print(f"wrote {out}: {rounds} round(s) over {report['utterances']} recordings, {last['kept']} fine-tuned on "
          f"in the last, warp {report['warp']}")


@app.command()
def ensemble(
    checkpoints: list[Path] = typer.Argument(..., help="Two or more speech checkpoints or run directories with "
                                             "the same units, sample rate and frame rate."),
    out: Path = typer.Option(..., "--out", "-o", help="The ensemble checkpoint to write (must not exist)."),
) -> None:
    """Combine speech models into one checkpoint that averages their log-probabilities per frame.

    transcribe, eval and adapt take the ensemble like any checkpoint; adapt fine-tunes every member on the ensemble's transcripts. Decode it with --beam 2 or more: the members' spikes for a word need not fall on the same frame, and greedy decoding of the average can drop words.

    Example: seqkit ensemble runs/asr/<run1> runs/asr/<run2> --out both.ckpt
    """  # noqa: E501 (one line per paragraph: --help reflows it)
    from seqkit.ensemble import save_ensemble

    info = save_ensemble(checkpoints, out)
    print(f"wrote {out}: an ensemble of {len(info['members'])} {info['recipe']} models")


@app.command()
def generate(
    checkpoint: Path = typer.Argument(..., help="A language-model checkpoint or its run directory."),
    prompt: str = typer.Option("\n", "--prompt", "-p", help="Text to continue."),
    length: int = typer.Option(500, "--length", "-n", help="Tokens to generate."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Softmax temperature; 0 is greedy."),
    top_k: int = typer.Option(0, "--top-k", "-k", help="Sample among the k most probable tokens; 0: all."),
    seed: int = typer.Option(None, "--seed", help="Seed of the sampling: the same seed gives the same text."),
) -> None:
    """Stream text from a language model: the prompt, then its continuation.

    Example: seqkit generate runs/lm/<run> --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 40 --seed 1
    """
    from seqkit.sampling import generate_from_checkpoint

    pieces = generate_from_checkpoint(checkpoint, prompt, length=length, temperature=temperature,
                                      top_k=top_k or None, seed=seed)
    first = next(pieces, "")  # errors (checkpoint, prompt) surface before anything is printed
    sys.stdout.write(prompt + first)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


@app.command()
def blocks() -> None:
    """List every front-end, back-end and head with its arguments, defaults and what each does."""
    from seqkit.blocks import TABLES, argument_docs, settable

    for kind, table in TABLES.items():
        print(f"{kind}s:")
        for name, cls in table.items():
            doc = inspect.getdoc(cls) or ""
            print(f"  {name:<16} {doc.splitlines()[0] if doc else ''}")
            described = argument_docs(cls)
            for arg, param in settable(kind, cls).items():
                default = "required" if param.default is inspect.Parameter.empty else repr(param.default)
                print(f"      {f'{arg} = {default}':<28} {described.get(arg, '')}".rstrip())
        print()


@app.command("ls")
def list_recipes() -> None:
    """List the bundled recipes."""
    for name, path in bundled().items():
        readme = path / "README.md"
        title = readme.read_text(encoding="utf-8").splitlines()[0].lstrip("# ") if readme.is_file() else ""
        print(f"{name:<8} {title}")


@app.command()
def cp(
    recipe: str = typer.Argument(..., help="A bundled recipe's name or a recipe folder."),
    dest: Path = typer.Argument(..., help="New folder to create."),
) -> None:
    """Copy a recipe to a new folder to edit; never writes into an existing one."""
    source = find_recipe(recipe)
    if dest.exists():
        raise SeqkitError(f"{dest} already exists; choose a new folder name")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "runs"))
    print(f"copied {source} to {dest}; run it with: seqkit run {dest}")


@app.command()
def new(
    dest: Path = typer.Argument(..., help="New recipe folder to create."),
    frontend: str = typer.Option(..., "--frontend", help="Front-end block (seqkit blocks lists them)."),
    backend: str = typer.Option(..., "--backend", help="Back-end block."),
    head: str = typer.Option(..., "--head", help="Head block: it sets the task (forecast, ctc, softmax, classify)."),
    data: str = typer.Option(None, "--data", help="The data: a CSV, an audio folder or a text file."),
) -> None:
    """Write a ready recipe (config.yaml, recipe.py, README.md) for the named blocks and data.

    Example: seqkit new my_task --frontend segmenter --backend gru --head forecast --data prices.csv
    """
    from seqkit.recipes import new_recipe

    folder = new_recipe(dest, frontend, backend, head, data)
    print(f"wrote {folder}/config.yaml, recipe.py and README.md; run it with: seqkit run {folder}")


EXPORT_HELP = (
    "Export a model's inference graph to ONNX or TorchScript, verified against torch.\n\n"
    "In the graph: the whole model, front-end (log-mel spectrogram and convolutions, segmenter or embeddings), "
    "back-end and head. Left outside, in Python: reading and resampling audio, the CSV scaler ((x - mean) / std "
    "in, * std + mean out), the tokenizer, CTC decoding (greedy, beam search, LM fusion) and sampling. A language "
    "model exports as a step function (tokens, state) -> (logits, next state).\n\n"
    "The file is run (onnxruntime, or the loaded TorchScript module) beside the torch model on real data from "
    "the checkpoint's data set (or --input) and kept only if every output agrees within 1e-4.\n\n"
    "Example: seqkit export runs/asr/<run> asr.onnx"
)


@app.command("export", help=EXPORT_HELP)
def export_command(
    checkpoint: Path = typer.Argument(..., help="A checkpoint (.ckpt) or a run directory (its best)."),
    out: Path = typer.Argument(..., help="The file to write: model.onnx, model.pt ..."),
    format: str = typer.Option(None, "--format", "-f", help="onnx or torchscript (default: from OUT's suffix)."),
    input: Path = typer.Option(None, "--input", "-i", help="Verify on this wav, CSV or text file instead of the "
                               "checkpoint's data."),
    force: bool = typer.Option(False, "--force", help="Replace an existing OUT (only once the new file is verified)."),
    data_root: Path = DATA_ROOT,
) -> None:
    from seqkit.export import export_model

    _set_data_root(data_root)
    print(export_model(checkpoint, out, format, input, force).report())


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


if __name__ == "__main__":
    main()
