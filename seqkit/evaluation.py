"""``seqkit eval``: re-compute a checkpoint's test metrics on the data its config names."""

from __future__ import annotations

import inspect
from pathlib import Path

from seqkit.checkpoint import load_model, resolve
from seqkit.data import DATAMODULES
from seqkit.errors import SeqkitError
from seqkit.model import describe, head_name
from seqkit.speech.beam import set_beam_search
from seqkit.speech.warp import check_warp, parse_warp, set_warp
from seqkit.task import Task
from seqkit.training import make_trainer, run_test

SPLITS = ("test", "val", "dev")


def evaluate(target: str | Path, lexicon: list[str] | None = None, lm: str | Path | None = None,
             lm_weight: float = 0.3, warp: float | str | None = None, split: str | None = None) -> dict:
    """Re-compute a checkpoint's test metrics (or its validation split's) on the data its config names.

    A language model's are given for each of its splits, ``{"val": {...}, "test": {...}}`` (the
    test split where its corpus has one: a folder of train/valid/test files), unless `split` is
    given; every other model's are those of the test split by default.

    Args:
        target: a checkpoint, or a run directory (its best checkpoint is used).
        lexicon: speech: the beam-search scores spell only these words (`seqkit.Lexicon`).
        lm: speech: a language-model checkpoint over the same units, fused into the beam search.
        lm_weight: the weight of its log-probabilities.
        warp: speech: warp the spectrum's frequencies by this factor, or ``"auto"``: by the one
            `choose_warp` finds on the test audio (no transcripts; meant for one held-out speaker);
            the factor is reported as ``warp``.
        split: ``test``, or ``val`` (also ``dev``): the validation split, to choose decoding
            settings (such as `lm_weight`) without reading the test split; None: the test split,
            or a language model's splits.
    """
    if split is not None and split not in SPLITS:
        raise SeqkitError(f"--split must be test, val or dev, got {split!r}")
    warp = parse_warp(warp)
    model, info = load_model(resolve(target))
    if warp is not None:
        check_warp(model)  # before the data is read
    cfg = info["config"]
    module = DATAMODULES[info["data_module"]]
    kept = {}
    if "tokenizer" in info and "tokenizer" in inspect.signature(module).parameters:
        kept["tokenizer"] = info["tokenizer"]  # the checkpoint's own, never a re-trained one
    data = module(**cfg["data"], **kept)
    if lexicon is not None or lm is not None:
        if head_name(model) != "ctc":
            raise SeqkitError(f"{target}: --lexicon and --lm change a speech recogniser's beam search; this is "
                              f"{describe(model)}")
        set_beam_search(model.head, data.tokenizer, lexicon, lm, lm_weight)
    loader = data.val_dataloader if split in ("val", "dev") else data.test_dataloader
    set_warp(model, warp, ((b["inputs"], b["input_lengths"]) for b in loader()))
    task = Task(model, **cfg["train"], info=info)
    settings = {k: v for k, v in cfg["trainer"].items() if k not in ("max_epochs", "max_time")}
    settings["enable_progress_bar"] = False
    trainer = make_trainer(settings, run_dir=None)
    if split is None and info["data_module"] == "TextData":  # a language model: each of its splits
        splits = {"val": data.val_dataloader} | ({"test": data.test_dataloader} if "test" in data.streams else {})
        return {name: run_test(trainer, task, dataloaders=make()) for name, make in splits.items()}
    scores = run_test(trainer, task, dataloaders=loader())
    return scores if warp is None else {**scores, "warp": model.frontend.warp}
