"""trainer.average_last: checkpoints/average.ckpt holds the mean of the last N epochs' weights, a
resumed run averages the same epochs, and a run directory then resolves to it."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

import seqkit as sk
from seqkit.checkpoint import resolve
from seqkit.runs import resume_run

SETTINGS = {"limit_train_batches": 3, "limit_val_batches": 1, "limit_test_batches": 1,
            "enable_progress_bar": False, "average_last": 2}


class StopAfter(Callback):
    """Stop fit after `epochs` epochs (their checkpoints written), as a killed run would have."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


class EpochWeights(Callback):
    """The model's weights at the end of every training epoch."""

    def __init__(self):
        self.weights = []

    def on_train_epoch_end(self, trainer, module):
        self.weights.append({k: v.detach().clone() for k, v in module.model.state_dict().items()})


def fitted(run_dir: Path, epochs: int, data, *callbacks: Callback):
    torch.manual_seed(0)
    model = sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
                            "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast"}}, **data.dims)
    trainer = sk.make_trainer({**SETTINGS, "max_epochs": epochs}, run_dir, callbacks=list(callbacks))
    task = sk.Task(model, lr=1e-2, info={"config": {}, "dims": data.dims})
    trainer.fit(task, datamodule=data)
    return task


def averaged(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoints" / "average.ckpt", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def test_the_average_is_the_mean_of_the_last_epochs_and_survives_a_resume(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("SEQKIT_DATA", str(data_root))
    data = sk.SeriesData("ETT-small/ETTh1.csv", seq_len=96, pred_len=24, batch_size=32)
    record = EpochWeights()
    task = fitted(tmp_path / "whole", 4, data, record)
    mean = {k: (record.weights[2][k].double() + record.weights[3][k].double()) / 2 for k in record.weights[3]}
    average = averaged(tmp_path / "whole")
    assert set(average) == set(mean)
    for name, value in average.items():
        assert torch.allclose(value.double(), mean[name], atol=1e-6), name
    assert any(not torch.equal(average[k], record.weights[3][k]) for k in average)  # not the last epoch's
    trained = task.model.state_dict()  # the trained model itself is left as it was
    assert all(torch.equal(trained[k], record.weights[3][k]) for k in trained)
    assert resolve(tmp_path / "whole") == tmp_path / "whole" / "checkpoints" / "average.ckpt"

    # Stopped after three epochs, then resumed for the fourth: the same mean (epoch 3's weights
    # travel in last.ckpt).
    fitted(tmp_path / "split", 4, data, StopAfter(3))
    with resume_run(tmp_path / "split"):
        fitted(tmp_path / "split", 4, data)
    for name, value in averaged(tmp_path / "split").items():
        assert torch.allclose(value, average[name], atol=1e-5), name


def test_a_bad_average_setting_is_a_one_line_error(tmp_path):
    import pytest

    with pytest.raises(sk.SeqkitError, match="trainer.average_last must be a whole number"):
        sk.make_trainer({"average_last": -1}, tmp_path / "run")
