"""The commands of every task: run recipes, evaluate, forecast, generate, list and copy, export."""

from __future__ import annotations

import inspect
import json
import shutil
import sys
from pathlib import Path

import typer

from seqkit.cli.app import DATA_ROOT, LEXICON_HELP, LM, LM_WEIGHT, WARP_HELP, app, set_data_root, words
from seqkit.errors import SeqkitError
from seqkit.recipes import bundled, find_recipe


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

    set_data_root(data_root)
    run_recipe(recipe, overrides or [], config, resume=resume)


@app.command("eval")
def evaluate(
    target: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    data_root: Path = DATA_ROOT,
    lexicon: str = typer.Option(None, "--lexicon", help=f"{LEXICON_HELP} (wer_beam, cer_beam)."),
    lm: Path = LM,
    lm_weight: float = LM_WEIGHT,
    warp: str = typer.Option(None, "--warp", help=f"{WARP_HELP}; over the test audio, for a held-out speaker."),
    split: str = typer.Option(None, "--split", help="test, or val (dev): the validation split, to choose "
                              "settings such as --lm-weight without reading the test split. Default: test; a "
                              "language model's val and test."),
) -> None:
    """Re-compute the test metrics of a checkpoint (a run's best by default; a language model's
    validation and test perplexity); prints JSON."""
    from seqkit.evaluation import evaluate as run_eval

    set_data_root(data_root)
    print(json.dumps(run_eval(target, lexicon=words(lexicon), lm=lm, lm_weight=lm_weight, warp=warp, split=split),
                     indent=2))


@app.command()
def predict(
    checkpoint: Path = typer.Argument(..., help="A forecasting checkpoint or its run directory."),
    csv: Path = typer.Option(..., "--csv", help="CSV with a date column and the training columns."),
    out: Path = typer.Option(None, "--out", "-o", help="CSV to write (default: <name>_forecast.csv here)."),
    date_format: str = typer.Option(None, "--date-format", help="The CSV's date format, e.g. '%d/%m/%Y %H:%M' "
                                    "or epoch (Unix seconds); default: the training data's, else inferred."),
) -> None:
    """Forecast the pred_len steps after the end of a CSV, with future timestamps in the CSV's date format."""
    from seqkit.forecasting import forecast_csv

    written = forecast_csv(checkpoint, csv, out, date_format)
    print(f"wrote {written}")


@app.command()
def generate(
    checkpoint: Path = typer.Argument(..., help="A language-model checkpoint or its run directory."),
    prompt: str = typer.Option(None, "--prompt", "-p", help="Text to continue; if none (or empty), the "
                               "text starts as a line of the corpus does, after a newline (the line start)."),
    length: int = typer.Option(500, "--length", "-n", help="Tokens to generate."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Softmax temperature; 0 is greedy."),
    top_k: int = typer.Option(0, "--top-k", "-k", help="Sample among the k most probable tokens; 0: all."),
    seed: int = typer.Option(None, "--seed", help="Seed of the sampling: the same seed gives the same text."),
) -> None:
    """Stream text from a language model: the prompt, then its continuation, ended by a newline.

    Example: seqkit generate runs/lm/<run> --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 40 --seed 1
    """
    from seqkit.sampling import generate_from_checkpoint

    pieces = generate_from_checkpoint(checkpoint, prompt, length=length, temperature=temperature,
                                      top_k=top_k or None, seed=seed)
    last = (prompt or "") + next(pieces, "")  # errors (checkpoint, prompt) surface before anything is printed
    sys.stdout.write(last)
    for last in pieces:
        sys.stdout.write(last)
        sys.stdout.flush()
    if not last.endswith("\n"):  # one line end, not a blank line after a text that ends with one
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
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "runs", "RESULTS.md"))
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

    set_data_root(data_root)
    print(export_model(checkpoint, out, format, input, force).report())
