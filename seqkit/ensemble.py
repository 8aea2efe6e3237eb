"""Ensembles: several speech models over the same units, heard as one model.

Per output frame (per utterance for a word classifier) the ensemble's log-probabilities are the
mean of its members' log-probabilities, renormalised: the normalised geometric mean of their
posteriors. Members must share units, sample rate and output frame rate; they may differ in
anything else (normalisation, back-end, seed, adaptation). An ensemble is saved as one checkpoint
(`save_ensemble`, ``seqkit ensemble``) that `seqkit.load_model` rebuilds, so ``seqkit transcribe``,
``seqkit eval`` and ``seqkit adapt`` take it as they take a single model.

With a CTC head, beam search over the combined frames is where an ensemble pays: the members'
spikes for one word need not fall on the same frame, so greedy decoding of the combined frames
can drop words that each member alone would keep.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from seqkit.errors import SeqkitError

# What the members of an ensemble must have in common (checkpoint info fields).
SHARED = ("recipe", "tokenizer", "sample_rate", "equalize_reference")


class Ensemble(nn.Module):
    """Speech models (`seqkit.SeqModel`) combined frame by frame; decoding, lexicon and language
    model go through the first member's head (`head`).

    Example:
        >>> from seqkit.blocks import CTC, ConvSpectrogram, GRU
        >>> from seqkit.model import SeqModel
        >>> def member():
        ...     back = GRU(8, hidden=8)
        ...     front = ConvSpectrogram(sample_rate=8000, n_mels=16, filters=4, dim=8)
        ...     return SeqModel(front, back, CTC(back.out_dim, vocab_size=5)).eval()
        >>> ensemble = Ensemble([member(), member()])
        >>> log_probs, lengths = ensemble(torch.randn(2, 8000, 1), torch.tensor([8000, 6000]))
        >>> tuple(log_probs.shape), lengths.tolist(), bool(log_probs.exp().sum(-1).sub(1).abs().max() < 1e-5)
        ((2, 25, 6), [25, 19], True)
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise SeqkitError(f"an ensemble needs two or more models, got {len(members)}")
        self.members = nn.ModuleList(members)

    @property
    def head(self) -> nn.Module:
        return self.members[0].head

    carried_state = None  # speech models carry no state between batches

    def reset_state(self, state=None) -> None:
        pass

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        outputs = [member(inputs, lengths) for member in self.members]
        first, first_lengths = outputs[0]
        for k, (out, out_lengths) in enumerate(outputs[1:], 2):
            if out.shape != first.shape or not torch.equal(out_lengths, first_lengths):
                raise SeqkitError(f"ensemble member {k} gives {tuple(out.shape)} outputs where member 1 gives "
                                  f"{tuple(first.shape)}: members must share units and output frame rate "
                                  f"(hop_ms, time_stride)")
        mean = torch.stack([out.float().log_softmax(-1) for out, _ in outputs]).mean(0)
        return mean.log_softmax(-1), first_lengths


def members_of(model: nn.Module) -> list[nn.Module]:
    """The models an ensemble combines, or `model` alone."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def save_ensemble(targets: list[str | Path], out: str | Path) -> dict:
    """Write the ensemble of the speech checkpoints (or run directories) `targets` to the new
    checkpoint `out`; returns its info. Ensembles among the targets give their members."""
    import lightning

    from seqkit.checkpoint import load_model, resolve, save_file

    out = Path(out)
    if len(targets) < 2:
        raise SeqkitError(f"an ensemble needs two or more checkpoints, got {len(targets)}")
    if out.exists():
        raise SeqkitError(f"{out} exists: give seqkit ensemble a new --out (nothing was overwritten)")
    models, infos, names = [], [], []
    for target in targets:
        model, info = load_model(resolve(target))
        if info.get("recipe") not in ("asr", "kws"):
            raise SeqkitError(f"{target} is a {info.get('recipe')} checkpoint; an ensemble combines speech "
                              f"models (recipes/asr, recipes/kws)")
        members = members_of(model)
        models += members
        infos += info.get("members", [info])
        names += [str(target)] * len(members)
    ensemble = Ensemble(models)
    check_members(infos, names)
    with torch.no_grad():  # a second of silence: the members must agree on the output frames
        ensemble(torch.zeros(1, int(infos[0]["sample_rate"]), 1))
    info = {**infos[0], "members": infos}
    for own in ("warp", "adapted"):  # the first member's, kept in its own record
        info.pop(own, None)
    save_file({"state_dict": {f"model.{k}": v for k, v in ensemble.state_dict().items()}, "seqkit": info,
               "pytorch-lightning_version": lightning.__version__}, out)
    return info


def check_members(infos: list[dict], names: list[str]) -> None:
    """One-line error naming the first member that differs from the first in what they must share."""
    for info, name in zip(infos[1:], names[1:]):
        for field in SHARED:
            if info.get(field) != infos[0].get(field):
                what = {"tokenizer": "units (data.units and the training transcripts' alphabet or pieces)",
                        "equalize_reference": "data.equalize reference spectrum"}.get(field, field)
                raise SeqkitError(f"{name}: its {what} differ from {names[0]}'s; an ensemble's members must "
                                  f"share them")


def build_ensemble(info: dict, state: dict) -> Ensemble:
    """The ensemble an ensemble checkpoint's ``seqkit`` section and model state describe."""
    from seqkit.checkpoint import build_member

    members = []
    for k, member in enumerate(info["members"]):
        prefix = f"members.{k}."
        members.append(build_member(member, {n[len(prefix):]: v for n, v in state.items() if n.startswith(prefix)}))
    return Ensemble(members)
