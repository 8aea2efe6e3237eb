"""Spoken-digit classification: conv spectrogram -> GRU -> classify, on FSDD's isolated digits.

Made only of existing blocks and the speech data module. Run with ``seqkit run recipes/kws``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

import seqkit as sk

RECIPE = Path(__file__).resolve().parent.name  # a copied recipe's runs and checkpoints carry its own name


def main(cfg) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = sk.SpeechData(**cfg.data)  # isolated recordings; the ten digit words are the classes
    model = sk.build_model(cfg.model, **data.dims)
    run_dir = sk.create_run_dir(cfg, RECIPE)
    task = sk.Task(model, **cfg.train, info={"recipe": RECIPE, "config": sk.to_dict(cfg), "dims": data.dims,
                                             **data.info})
    trainer = sk.make_trainer(cfg.trainer, run_dir)
    trainer.fit(task, datamodule=data)

    results = {}
    for split, loader in (("val", data.val_dataloader()), ("test", data.test_dataloader())):
        trainer.test(task, dataloaders=loader, ckpt_path="best", verbose=False)
        results[split] = {"accuracy": float(task.test_values["accuracy"])}
    labels = data.tokenizer.words
    sk.confusion_plot(run_dir / "confusion.png", task.test_values["confusion"].numpy(), labels)
    sk.loss_curves(run_dir / "loss.png", run_dir / "logs" / "metrics.csv")

    metrics = {**results, "confusion": {"labels": labels, "matrix": task.test_values["confusion"].tolist()},
               "epochs": len(sk.history(trainer)), "history": sk.history(trainer), "seed": cfg.seed}
    sk.write_json(run_dir / "metrics.json", metrics)
    print(f"test accuracy {results['test']['accuracy']:.2%} (val {results['val']['accuracy']:.2%}); run: {run_dir}")
    metrics["run_dir"] = str(run_dir)
    return metrics
