"""What the speech recipes do after training: score every decoding pass on each split, and plot a
few test utterances' spectrograms over their CTC posteriors."""

from __future__ import annotations

from pathlib import Path

import torch

from seqkit.blocks.ctc import Lexicon
from seqkit.data.tokenizers import unit_texts
from seqkit.plots import ctc_plot
from seqkit.speech.fusion import LanguageModelScorer
from seqkit.training import run_test


def score_passes(trainer, task, tokenizer, loaders: dict, lm: str | None = None, lm_weight: float = 0.3,
                 lexicon: list[str] | None = None, ckpt: str = "best") -> dict[str, dict[str, float]]:
    """WER and CER on each of `loaders` (``{split: loader}``): greedy and beam with the checkpoint
    `ckpt` (``best``, or a file such as the run's average.ckpt) (``split``); beam search with the
    language-model checkpoint `lm` fused in (``split_lm``); beam search spelling only the words of
    `lexicon`, with the LM if there is one (``split_lexicon``; a word the units cannot spell, as
    after a tiny debug run, is left out). The head is left without LM or lexicon afterwards."""
    head = task.model.head
    scorer = LanguageModelScorer.from_checkpoint(lm, unit_texts(tokenizer), lm_weight) if lm else None
    passes = {"": (None, None)}
    if scorer is not None:
        passes["_lm"] = (scorer, None)
    if lexicon:
        passes["_lexicon"] = (scorer, Lexicon.of(lexicon, tokenizer, "decode.lexicon", drop=True))
    results = {}
    try:
        for suffix, (fused, words) in passes.items():
            head.fuse(fused)
            head.constrain(words)
            for split, loader in loaders.items():
                scores = run_test(trainer, task, dataloaders=loader, ckpt_path=None if suffix else ckpt)
                results[split + suffix] = {k: v for k, v in scores.items() if not suffix or "beam" in k}
    finally:
        head.fuse(None)
        head.constrain(None)
    return results


def transcripts_plot(path: Path, task, batch: dict, tokenizer, shown: int = 3) -> Path:
    """Plot the first `shown` utterances of `batch`: log-mel spectrogram over the CTC posteriors,
    with the greedy transcript and the reference (`seqkit.plots.ctc_plot`)."""
    model = task.model
    shown = min(shown, len(batch["texts"]))
    task.eval()
    with torch.no_grad():
        log_probs, lengths = task(batch)
        spec, frames = model.frontend.features(batch["inputs"], batch["input_lengths"])
        spec = spec[:, 0] if spec.dim() == 4 else spec  # norm: both -> the per-utterance view
    hypotheses = [tokenizer.decode(ids) for ids in model.head.decode(log_probs, lengths)]
    frame_ms = model.frontend.frame_ms * model.backend.provides.get("stride", 1)  # segrnn groups frames
    ctc_plot(path, [spec[k, :, : frames[k]].numpy() for k in range(shown)],
             [log_probs[k, : lengths[k]].exp().numpy() for k in range(shown)],
             hypotheses[:shown], batch["texts"][:shown], unit_texts(tokenizer), frame_ms)
    return path
