"""Vocal tract length normalisation at test time: warp a model's spectrum by the factor it is most
confident under (no transcripts), or by a given factor."""

from __future__ import annotations

import math

import torch

from seqkit.errors import SeqkitError
from seqkit.model import Ensemble

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
    check_warp(model)
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
        check_warp(model)
        model.frontend.warp = float(warp)


def check_warp(model) -> None:
    """One-line error unless `model` has a spectrum to warp (a conv_spectrogram front-end, not an ensemble)."""
    if isinstance(model, Ensemble):
        raise SeqkitError("--warp warps one model's spectrum; an ensemble's members keep the warps they were "
                          "saved with (give no --warp, or warp a single model)")
    if not hasattr(model.frontend, "warp"):
        raise SeqkitError(f"--warp warps a spectrogram: it needs a conv_spectrogram front-end, not "
                          f"{type(model.frontend).__name__}")
