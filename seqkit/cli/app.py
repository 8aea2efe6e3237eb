"""The ``seqkit`` typer app and what its commands share: options, value parsing."""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="CNN+RNN sequence models for speech, text and time series, composed from blocks.",
)

def set_data_root(data_root: Path | None) -> None:
    """Point seqkit at a data root given by --data-root (for this process and the ones it starts)."""
    if data_root is not None:
        os.environ["SEQKIT_DATA"] = str(data_root.expanduser().resolve())


DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding the data sets (else $SEQKIT_DATA, else a cache).")
LM = typer.Option(None, "--lm", help="Speech: a language-model checkpoint over the same units, fused into the beam "
                  "search.")
LM_WEIGHT = typer.Option(0.3, "--lm-weight", help="Weight of the language model's scores.")
WARP_HELP = ("Speech: warp the spectrum's frequencies by a factor (0.9: formants 10% lower), or 'auto': the factor "
             "of 0.8-1.2 the model is most confident under on the audio (one speaker's; no transcripts used): vocal "
             "tract length normalisation")
LEXICON_HELP = ("Speech: comma-separated words, e.g. 'zero,one,two': the beam search (--beam 2 or more) spells "
                "only these")


def words(value: str | None) -> list[str] | None:
    """A comma-separated option value as a list (None stays None)."""
    return value.split(",") if value is not None else None
