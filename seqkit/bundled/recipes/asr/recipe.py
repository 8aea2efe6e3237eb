"""Speech recognition on a real corpus (CMU AN4 by default): log-mel + conv subsampling -> recurrent
back-end -> CTC, trained on utterances batched by duration, scored on dev and test.

Run with ``seqkit run recipes/asr [key=value ...] [-c overlay.yaml]``; see README.md here.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L

import seqkit as sk

RECIPE = Path(__file__).resolve().parent.name  # a copied recipe's runs and checkpoints carry its own name


def lexicon_words(lexicon: str, train_texts: list[str]) -> list[str] | None:
    """decode.lexicon's words: ``train``: those of the training transcripts (a closed vocabulary, as
    AN4's), ``none``: no lexicon pass, else a file of words (one a line, or several separated by spaces)."""
    if lexicon == "none":
        return None
    if lexicon == "train":
        return sorted({w for text in train_texts for w in text.split()})
    path = Path(lexicon).expanduser()
    if not path.is_file():
        raise sk.SeqkitError(f"decode.lexicon: {lexicon!r} is not train, none or a file of words; give one of them")
    words = path.read_text(encoding="utf-8").split()
    if not words:
        raise sk.SeqkitError(f"decode.lexicon: {path} holds no words; write one word a line")
    return words


def main(cfg) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # Data: the corpus's train, dev and test utterances (audio read as batches need it), a tokenizer
    # fitted on the normalised training transcripts.
    data = sk.CorpusData(**cfg.data)
    model = sk.build_model(cfg.model, **data.dims)
    run_dir = sk.create_run_dir(cfg, RECIPE)
    words = lexicon_words(cfg.decode.lexicon, data.texts["train"])
    info = {"recipe": RECIPE, "config": sk.to_dict(cfg), "dims": data.dims, **data.info,
            "lexicon": list(words) if words else None}  # for `seqkit adapt --lexicon config`
    task = sk.Task(model, **cfg.train, info=info)

    trainer = sk.make_trainer(cfg.trainer, run_dir)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    fit_seconds = time.perf_counter() - start

    # WER and CER, greedy and beam, on dev and test, with the mean of the last epochs' weights
    # (trainer.average_last; the best checkpoint's dev scores beside it, as dev_best) or else the
    # best checkpoint (by dev loss); then beam-search passes with a language model fused in
    # (decode.lm: *_lm) and spelling only the words of decode.lexicon (*_lexicon, with the LM if any).
    loaders = {"dev": data.val_dataloader(), "test": data.test_dataloader()}
    average = run_dir / "checkpoints" / "average.ckpt"
    best = {"dev_best": sk.run_test(trainer, task, dataloaders=loaders["dev"], ckpt_path="best")} \
        if average.is_file() else {}
    results = sk.score_passes(trainer, task, data.tokenizer, loaders, cfg.decode.lm, cfg.decode.lm_weight, words,
                              ckpt=str(average) if average.is_file() else "best") | best

    # The training transcripts, one per line: the text for a language model to fuse (recipes/lm).
    data.write_transcripts(run_dir / "train_transcripts.txt")

    # Plot a few test utterances: spectrogram over the CTC posteriors, with the decoded text.
    sk.transcripts_plot(run_dir / "transcripts.png", task, next(iter(data.test_dataloader())), data.tokenizer)
    sk.loss_curves(run_dir / "loss.png", run_dir / "logs" / "metrics.csv")

    epochs = sk.history(trainer)
    metrics = {
        **results,
        "epochs": len(epochs),
        "fit_seconds": round(fit_seconds, 1),
        # (whole epochs only: with trainer.limit_train_batches below 1 the audio trained on is not known here)
        "train_audio_seconds_per_second": round(data.epoch_seconds() * len(epochs) / fit_seconds, 1)
        if cfg.trainer.limit_train_batches == 1.0 else None,
        "history": epochs,
        "data": {"utterances": {k: len(v) for k, v in data.utterances.items()},
                 "hours": {k: round(sum(v) / 3600, 3) for k, v in data.seconds.items()}},
        "seed": cfg.seed,
    }
    sk.write_json(run_dir / "metrics.json", metrics)
    test = results["test"]
    fused = f", beam + LM {results['test_lm']['wer_beam']:.2%}" if "test_lm" in results else ""
    fused += f", beam + lexicon {results['test_lexicon']['wer_beam']:.2%}" if "test_lexicon" in results else ""
    print(f"test WER {test['wer']:.2%} (beam {test['wer_beam']:.2%}{fused}), CER {test['cer']:.2%}; run: {run_dir}")
    metrics["run_dir"] = str(run_dir)
    return metrics
