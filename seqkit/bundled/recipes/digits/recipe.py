"""Speech recognition on spoken digits: conv spectrogram -> recurrent back-end -> CTC.

Run with ``seqkit run recipes/digits [key=value ...] [-c overlay.yaml]``; see README.md here.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L

import seqkit as sk

RECIPE = Path(__file__).resolve().parent.name  # a copied recipe's runs and checkpoints carry its own name


def main(cfg) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # Data: recordings split by index (or by speaker), utterances built on the fly, a tokenizer.
    data = sk.SpeechData(**cfg.data)

    # Model: input size, sample rate and vocabulary size are derived from the data.
    model = sk.build_model(cfg.model, **data.dims)
    run_dir = sk.create_run_dir(cfg, RECIPE)
    info = {"recipe": RECIPE, "config": sk.to_dict(cfg), "dims": data.dims, **data.info}
    task = sk.Task(model, **cfg.train, info=info)

    trainer = sk.make_trainer(cfg.trainer, run_dir)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    fit_seconds = time.perf_counter() - start

    # WER and CER, greedy and beam, with the best checkpoint, on validation and test; and beam-search
    # passes with a language model over the same units fused in (decode.lm: *_lm), and spelling only
    # the words of decode.lexicon, with the LM if there is one (*_lexicon).
    loaders = {"val": data.val_dataloader(), "test": data.test_dataloader()}
    results = sk.score_passes(trainer, task, data.tokenizer, loaders, cfg.decode.lm, cfg.decode.lm_weight,
                              cfg.decode.lexicon)

    # The training transcripts, one per line: the text for a language model to fuse (recipes/lm).
    data.write_transcripts(run_dir / "train_transcripts.txt", len(sk.history(trainer)))

    # Plot a few test utterances: spectrogram over the CTC posteriors, with the decoded text.
    sk.transcripts_plot(run_dir / "transcripts.png", task, next(iter(data.test_dataloader())), data.tokenizer)
    sk.loss_curves(run_dir / "loss.png", run_dir / "logs" / "metrics.csv")

    epochs = sk.history(trainer)
    audio_seconds = len(data.splits["train"]) * len(epochs) * data.mean_seconds("train")
    metrics = {
        **results,
        "epochs": len(epochs),
        "fit_seconds": round(fit_seconds, 1),
        "train_audio_seconds_per_second": round(audio_seconds / fit_seconds, 1),
        "history": epochs,
        "data": {"digits": cfg.data.digits, "test_speakers": list(cfg.data.test_speakers),
                 "utterances": {k: len(v) for k, v in data.splits.items()}},
        "seed": cfg.seed,
    }
    sk.write_json(run_dir / "metrics.json", metrics)
    test = results["test"]
    fused = f", beam + LM {results['test_lm']['wer_beam']:.2%}" if "test_lm" in results else ""
    fused += f", beam + lexicon {results['test_lexicon']['wer_beam']:.2%}" if "test_lexicon" in results else ""
    print(f"test WER {test['wer']:.2%} (beam {test['wer_beam']:.2%}{fused}), CER {test['cer']:.2%}; run: {run_dir}")
    metrics["run_dir"] = str(run_dir)
    return metrics
