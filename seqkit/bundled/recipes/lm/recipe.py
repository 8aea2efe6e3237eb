"""Language modelling: token embeddings -> recurrent back-end -> tied softmax, trained with TBPTT.

Run with ``seqkit run recipes/lm [key=value ...] [-c overlay.yaml]``; see README.md here.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L

import seqkit as sk

RECIPE = Path(__file__).resolve().parent.name  # a copied recipe's runs and checkpoints carry its own name


def main(cfg) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # Data: one text split 90/10 (Tiny Shakespeare) or a folder's train/valid/test files (Penn
    # Treebank), a tokenizer fitted on the training text, batch_size contiguous streams per split.
    data = sk.TextData(**cfg.data)

    # The prompt of samples.txt; a corpus of one's own may lack its characters: then its first line's start.
    settings = dict(cfg.sample)
    prompt = settings.pop("prompt")
    try:
        data.tokenizer.encode(prompt)
    except sk.SeqkitError as err:
        prompt = data.texts["val"].lstrip()[:8] or data.texts["train"][:8]
        logging.getLogger("seqkit").warning("sample.prompt: %s; samples.txt starts from %r instead", err, prompt)

    # Model: the vocabulary size comes from the tokenizer; the head ties its weights to the embedding.
    model = sk.build_model(cfg.model, **data.dims)
    run_dir = sk.create_run_dir(cfg, RECIPE)
    info = {"recipe": RECIPE, "config": sk.to_dict(cfg), "dims": data.dims, **data.info}
    task = sk.Task(model, **cfg.train, info=info)

    trainer = sk.make_trainer(cfg.trainer, run_dir)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    fit_seconds = time.perf_counter() - start

    # Exact scores of the best checkpoint over each whole stream (state carried): nats per token,
    # bits per character, perplexity; on the validation split, and on the test split where the
    # corpus has one (read for this report only).
    val = sk.run_test(trainer, task, dataloaders=data.val_dataloader(), ckpt_path="best")
    test = sk.run_test(trainer, task, dataloaders=data.test_dataloader()) if "test" in data.streams else None

    # Text from the best model, and the loss curves.
    sample = prompt + "".join(sk.generate(model.cpu(), data.tokenizer, prompt, **settings))
    (run_dir / "samples.txt").write_text(sample + "\n", encoding="utf-8")
    sk.loss_curves(run_dir / "loss.png", run_dir / "logs" / "metrics.csv")

    epochs = sk.history(trainer)
    train = data.streams["train"]  # tokens per batch on average (data.variable_bptt varies them)
    tokens = trainer.global_step * cfg.trainer.accumulate_grad_batches * train.tokens / len(train)
    metrics = {
        "val": val,
        **({"test": test} if test else {}),
        "eval_streams": data.eval_batch_size,
        "epochs": len(epochs),
        "steps": trainer.global_step,
        "fit_seconds": round(fit_seconds, 1),
        "train_tokens_per_second": round(tokens / fit_seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "history": epochs,
        "data": {"path": str(data.path), "units": cfg.data.units, "vocab_size": data.tokenizer.vocab_size,
                 "characters": {k: len(v) for k, v in data.texts.items()},
                 "tokens": {k: v.tokens for k, v in data.streams.items()}},
        "seed": cfg.seed,
    }
    sk.write_json(run_dir / "metrics.json", metrics)
    tested = f"; test perplexity {test['perplexity']:.2f}" if test else ""
    print(f"val loss {val['loss']:.4f} nats/token, {val['bpc']:.4f} bits/char, "
          f"perplexity {val['perplexity']:.2f}{tested}; run: {run_dir}")
    metrics["run_dir"] = str(run_dir)
    return metrics
