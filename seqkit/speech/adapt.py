"""Unsupervised speaker adaptation: fit a speech model to a new voice from untranscribed audio.

Self-training, in rounds: the model transcribes the new speaker's utterances (beam search, within
a lexicon and with a language model if given), keeps the ones it is most sure of and is
fine-tuned on them with its own transcripts as targets, with its training augmentation on; the
next round transcribes again with the better model. Before the first round the spectrum can be
warped to suit the voice (`seqkit.speech.warp.choose_warp`). No transcript of the speaker is used.
An ensemble (`seqkit.Ensemble`) transcribes as one model and each of its members is fine-tuned
on its transcripts: every member learns from the ensemble's better labels.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from seqkit.checkpoint import load_model, resolve, save_model
from seqkit.data.audio import batched, speech_batch
from seqkit.data.tokenizers import tokenizer_from_data
from seqkit.errors import SeqkitError
from seqkit.model import Ensemble, describe, head_name, members_of
from seqkit.speech.beam import check_beam, set_beam_search
from seqkit.speech.transcribe import read_recordings
from seqkit.speech.warp import best_unit_log_probs, set_warp
from seqkit.task import Task
from seqkit.training import make_trainer

log = logging.getLogger("seqkit")

# The trainer settings of the checkpoint's own config that fine-tuning keeps (device, precision, ...).
KEPT_TRAINER = ("accelerator", "precision", "gradient_clip_val", "deterministic")


def confident_transcripts(model, tokenizer, batches: list[tuple[list[int], torch.Tensor, torch.Tensor]],
                          count: int, beam: int) -> tuple[list[str], list[float]]:
    """Transcripts of `count` utterances (beam search with whatever the head's lexicon and LM are)
    and the model's confidence in each: the mean log-probability of the best unit per frame
    (`seqkit.speech.warp.best_unit_log_probs`)."""
    model.eval()
    texts, confidence = [""] * count, [-np.inf] * count
    device = next(model.parameters()).device
    for ids, inputs, lengths in batches:
        with torch.no_grad():
            log_probs, out_lengths = model(inputs.to(device), lengths.to(device))
        log_probs, out_lengths = log_probs.float().cpu(), out_lengths.cpu()
        sums, frames = best_unit_log_probs(log_probs, out_lengths)
        for row, (k, units) in enumerate(zip(ids, model.head.decode(log_probs, out_lengths, beam))):
            texts[k] = tokenizer.decode(units)
            confidence[k] = float(sums[row] / frames[row])
    return texts, confidence


def self_train(model, tokenizer, waves: list[np.ndarray], trainer: dict, rounds: int = 4, epochs: int = 3,
               keep: float = 0.7, lr: float = 3e-4, beam: int = 8, batch_size: int = 32, warp: float | str = "auto",
               seed: int = 0, progress: bool = True) -> dict:
    """Adapt `model` (a CTC speech model, its head's lexicon and LM already set) to the speaker of
    `waves` (mono audio at the model's rate) in place; returns what was done.

    Args:
        model: a CTC speech model, or an ensemble of them (each member is fine-tuned).
        tokenizer: the model's units.
        trainer: Lightning trainer settings for fine-tuning (device and precision).
        rounds: transcribe-and-fine-tune rounds.
        epochs: fine-tuning epochs per round over the kept utterances.
        keep: the fraction of utterances kept each round, the most confident first.
        lr: AdamW learning rate of the fine-tuning (a tenth of a training run's suits).
        beam: beam width of the transcription (2 or more for a lexicon or an LM).
        batch_size: utterances per batch.
        warp: ``"auto"``: warp the spectrum by the factor the model is most confident under on
            `waves` first (kept for later use); a number: that factor; None: no warp. An ensemble
            is not warped (``"auto"`` leaves it as it is): on the held-out speakers, each member
            at its own most confident factor made the ensemble worse (README, Results, ASR).
        seed: seeds the batch order and the augmentation.
    """
    if head_name(model) != "ctc":
        raise SeqkitError(f"adapt fine-tunes a speech recogniser (a ctc head); this model is {describe(model)}")
    if rounds < 1 or epochs < 1 or not 0 < keep <= 1 or lr <= 0:
        raise SeqkitError(f"adapt needs rounds >= 1, epochs >= 1, 0 < keep <= 1 and lr > 0, got rounds={rounds}, "
                          f"epochs={epochs}, keep={keep}, lr={lr}")
    if not waves:
        raise SeqkitError("adapt needs at least one utterance of the new speaker")
    batches = batched(waves, batch_size)
    if isinstance(model, Ensemble) and warp == "auto":
        warp = None
    set_warp(model, warp, (batch[1:] for batch in batches))
    report = {"utterances": len(waves), "warp": getattr(getattr(model, "frontend", None), "warp", None), "rounds": []}
    settings = {"gradient_clip_val": 5.0, **trainer, "max_epochs": epochs, "devices": 1,
                "enable_progress_bar": progress, "enable_model_summary": False, "limit_val_batches": 0,
                "num_sanity_val_steps": 0}
    torch.manual_seed(seed)
    for round_ in range(1, rounds + 1):
        start = time.perf_counter()
        texts, confidence = confident_transcripts(model, tokenizer, batches, len(waves), beam)
        ranked = sorted(range(len(waves)), key=lambda k: -confidence[k])[: max(1, round(keep * len(waves)))]
        kept = sorted(k for k in ranked if texts[k])  # an empty transcript teaches nothing
        if not kept:
            raise SeqkitError("adapt: the model transcribed none of the utterances as any word; it cannot adapt "
                              "to this audio (is it speech, at the model's language and units?)")
        train = [speech_batch([waves[k] for k in ids], [texts[k] for k in ids], tokenizer)
                 for ids in (kept[s:s + batch_size] for s in range(0, len(kept), batch_size))]
        for k, member in enumerate(members_of(model)):
            loader = torch.utils.data.DataLoader(train, batch_size=None, shuffle=True,
                                                 generator=torch.Generator().manual_seed(seed + round_ + 1000 * k))
            _fine_tune(member, loader, lr, settings)
        model.cpu().eval()
        report["rounds"].append({"kept": len(kept), "confidence": float(np.mean([confidence[k] for k in kept])),
                                 "seconds": round(time.perf_counter() - start, 1)})
        log.info("adapt round %d/%d: fine-tuned on %d of %d utterances (mean confidence %.3f), %.0f s", round_,
                 rounds, len(kept), len(waves), report["rounds"][-1]["confidence"], report["rounds"][-1]["seconds"])
    return report


def _fine_tune(model, loader, lr: float, settings: dict) -> None:
    """Fine-tune `model` on `loader`'s batches through Lightning, its training augmentation on."""
    task = Task(model, optimizer="adamw", lr=lr, weight_decay=0.01, schedule="constant")
    lightning_log = logging.getLogger("lightning.pytorch")
    level, lightning_log.level = lightning_log.level, logging.WARNING  # no device banner every round
    model.train()  # Lightning keeps the modes it finds: SpecAugment and dropout on, as in training
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            make_trainer(settings, run_dir=None).fit(task, train_dataloaders=loader)
    finally:
        lightning_log.setLevel(level)


def adapt(checkpoint: str | Path, files: list[str | Path], out: str | Path, lexicon: list[str] | str | None = "config",
          lm: str | Path | None = None, lm_weight: float = 0.3, **options) -> dict:
    """Adapt a speech checkpoint to the speaker of `files` (untranscribed audio, any rate and
    channels) and write the adapted model to the new checkpoint `out`; returns what was done.

    `lexicon`: the words the transcription may spell (``"config"``: the recipe's
    ``decode.lexicon``; None: any); `lm`: a language model fused into it. The other options are
    `self_train`'s. `out` keeps the chosen warp (``seqkit transcribe`` applies it) and an
    ``adapted`` record; it must not exist yet.
    """
    out = Path(out)
    if out.exists():
        raise SeqkitError(f"{out} exists: give adapt a new --out (nothing was overwritten)")
    source = resolve(checkpoint)
    model, info = load_model(source)
    if head_name(model) != "ctc":
        raise SeqkitError(f"{checkpoint} is {describe(model)}; adapt fine-tunes a speech recogniser (a ctc head)")
    tokenizer = tokenizer_from_data(info["tokenizer"])
    if lexicon == "config":  # the recipe's decode.lexicon, as its run resolved it (recipes/asr: "train")
        lexicon = info["lexicon"] if "lexicon" in info else (info["config"].get("decode") or {}).get("lexicon")
    check_beam(options.get("beam", 8), lm, lexicon, more=" (or --lexicon none without --lm)")
    set_beam_search(model.head, tokenizer, list(lexicon) if lexicon is not None else None, lm, lm_weight)
    audio, bad = read_recordings(files, info)
    if bad:
        raise SeqkitError(f"adapt: {len(bad)} of {len(files)} files cannot be read, first {next(iter(bad.values()))}; "
                          f"remove or fix them (nothing was written)")
    trainer = {k: v for k, v in info["config"]["trainer"].items() if k in KEPT_TRAINER}
    report = self_train(model, tokenizer, [audio[k] for k in range(len(files))], trainer, **options)
    report["from"] = source.name if source.parent.name != "checkpoints" else source.parent.parent.name
    report["lexicon"], report["lm"] = lexicon is not None, lm is not None
    save_model(model, {**info, "warp": report["warp"], "adapted": report}, out)
    return report
