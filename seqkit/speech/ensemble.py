"""Ensembles: several speech models over the same units, heard as one model.

Per output frame (per utterance for a word classifier) the ensemble's log-probabilities are the
mean of its members' log-probabilities, renormalised: the normalised geometric mean of their
posteriors. Members must share units, sample rate and output frame rate; they may differ in
anything else (normalisation, back-end, seed, adaptation). An ensemble is saved as one checkpoint
(`save_ensemble`, ``seqkit ensemble``) that `seqkit.load_model` rebuilds as a `seqkit.Ensemble`,
so ``seqkit transcribe``, ``seqkit eval`` and ``seqkit adapt`` take it as they take a single model.

With a CTC head, beam search over the combined frames is where an ensemble pays: the members'
spikes for one word need not fall on the same frame, so greedy decoding of the combined frames
can drop words that each member alone would keep.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqkit.checkpoint import load_model, resolve, save_model
from seqkit.errors import SeqkitError
from seqkit.model import Ensemble, head_name, members_of
from seqkit.speech.transcribe import check_speech

# What the members of an ensemble must have in common (checkpoint info fields).
SHARED = ("tokenizer", "sample_rate", "equalize_reference")


def save_ensemble(targets: list[str | Path], out: str | Path) -> dict:
    """Write the ensemble of the speech checkpoints (or run directories) `targets` to the new
    checkpoint `out`; returns its info. Ensembles among the targets give their members."""
    out = Path(out)
    if len(targets) < 2:
        raise SeqkitError(f"an ensemble needs two or more checkpoints, got {len(targets)}")
    if out.exists():
        raise SeqkitError(f"{out} exists: give seqkit ensemble a new --out (nothing was overwritten)")
    models, infos, names = [], [], []
    for target in targets:
        model, info = load_model(resolve(target))
        check_speech(model, target)
        members = members_of(model)
        models += members
        infos += info.get("members", [info])
        names += [str(target)] * len(members)
    check_members(models, infos, names)
    ensemble = Ensemble(models)
    with torch.no_grad():  # a second of silence: the members must agree on the output frames
        ensemble(torch.zeros(1, int(infos[0]["sample_rate"]), 1))
    info = {**infos[0], "members": infos}
    for own in ("warp", "adapted"):  # the first member's, kept in its own record
        info.pop(own, None)
    save_model(ensemble, info, out)
    return info


def check_members(models: list, infos: list[dict], names: list[str]) -> None:
    """One-line error naming the first member that differs from the first in its head or in what
    the members must share."""
    for model, info, name in zip(models[1:], infos[1:], names[1:]):
        if head_name(model) != head_name(models[0]):
            raise SeqkitError(f"{name}: its head ({head_name(model)}) differs from {names[0]}'s "
                              f"({head_name(models[0])}); an ensemble's members must share it")
        for field in SHARED:
            if info.get(field) != infos[0].get(field):
                what = {"tokenizer": "units (data.units and the training transcripts' alphabet or pieces)",
                        "equalize_reference": "data.equalize reference spectrum"}.get(field, field)
                raise SeqkitError(f"{name}: its {what} differ from {names[0]}'s; an ensemble's members must "
                                  f"share them")
