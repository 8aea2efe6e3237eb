"""A wall-clock budget (trainer.max_time) survives a resume: the cosine schedule counts the
training time the checkpoint's Timer recorded, not the clock of the process that saved it."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback

import seqkit as sk
from seqkit.runs import resume_run

BUDGET = 1000.0  # seconds; the runs below take a few


class FirstRate(Callback):
    """The learning rate of the first training step this fit takes."""

    rate = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.rate is None:
            self.rate = trainer.optimizers[0].param_groups[0]["lr"]


class StopAfterOne(Callback):
    """Stop fit after its first epoch (its checkpoints written), as a killed run would have."""

    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


def fit(run_dir, data, *callbacks):
    torch.manual_seed(0)
    model = sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 8},
                            "backend": {"name": "segrnn", "hidden": 8}, "head": {"name": "forecast"}}, **data.dims)
    trainer = sk.make_trainer({"max_epochs": 3, "max_time": {"seconds": BUDGET}, "limit_train_batches": 2,
                               "limit_val_batches": 1, "enable_progress_bar": False}, run_dir, list(callbacks))
    trainer.fit(sk.Task(model, lr=1.0, schedule="cosine", info={"config": {}, "dims": data.dims}), datamodule=data)


def test_a_resumed_budget_keeps_its_elapsed_time(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("SEQKIT_DATA", str(data_root))
    data = sk.SeriesData("ETT-small/ETTh1.csv", seq_len=96, pred_len=24, batch_size=16)
    fit(tmp_path / "run", data, StopAfterOne())
    last = tmp_path / "run/checkpoints/last.ckpt"
    checkpoint = torch.load(last, weights_only=False)
    timer = next(k for k in checkpoint["callbacks"] if k.startswith("Timer"))
    checkpoint["callbacks"][timer]["time_elapsed"]["train"] = BUDGET / 2  # as if half the budget had gone
    torch.save(checkpoint, last)
    first = FirstRate()
    with resume_run(tmp_path / "run"):
        fit(tmp_path / "run", data, first)
    # Half the budget gone: the cosine is at about half its height (the steps alone would say 1/3 gone).
    assert first.rate is not None and abs(first.rate - 0.5) < 0.05, first.rate
