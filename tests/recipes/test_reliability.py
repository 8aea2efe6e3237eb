"""Reliability on real data: kill -9 and resume to the same metrics, safe and atomic checkpoints,
NaN losses, determinism of every recipe, and DDP over two CPU processes."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import seqkit as sk
from seqkit.checkpoint import load_file, save_file
from seqkit.recipes import run_recipe

from helpers import ROOT

DEBUG = ROOT / "configs" / "debug.yaml"
# A small SegRNN on ETTh1, float32: fast, and exact on the CPU.
TINY = ["data.seq_len=96", "model.frontend.dim=64", "model.backend.hidden=64", "trainer.precision=32-true",
        "trainer.enable_progress_bar=false", "data.batch_size=16", "trainer.limit_val_batches=4",
        "trainer.limit_test_batches=4"]
KILLED = TINY + ["trainer.max_epochs=2", "trainer.limit_train_batches=20", "trainer.checkpoint_every_n_steps=3"]
TIMING = ("fit_seconds", "run_dir", "train_tokens_per_second", "train_audio_seconds_per_second")


def results(metrics: dict) -> dict:
    """A run's metrics without wall-clock figures."""
    kept = {k: v for k, v in metrics.items() if k not in TIMING}
    kept["history"] = [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in metrics["history"]]
    return kept


def seqkit_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "seqkit.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def close(a, b, tolerance: float) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float):
        return abs(a - b) <= tolerance
    return a == b


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root) -> tuple[Path, dict]:
    """The uninterrupted run the killed one must match."""
    run_dir = tmp_path_factory.mktemp("reliability") / "reference"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        metrics = run_recipe(ROOT / "recipes/ltsf", KILLED + [f"run_dir={run_dir}"])
    return run_dir, results(metrics)


def killed_at_first_checkpoint(recipe: str, overrides: list[str], run_dir: Path) -> int:
    """`seqkit run recipes/RECIPE` killed with SIGKILL as soon as it has written last.ckpt: its step."""
    process = seqkit_process("run", f"recipes/{recipe}", *overrides, f"run_dir={run_dir}")
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return load_file(last)["global_step"]


def test_kill_9_then_resume_gives_the_same_metrics(reference, tmp_path):
    run_dir = tmp_path / "killed"
    killed_at = killed_at_first_checkpoint("ltsf", KILLED, run_dir)
    assert 3 <= killed_at < 40 and not (run_dir / "metrics.json").exists()
    before = {p: p.read_bytes() for p in [run_dir / "config.yaml", run_dir / "train.log"]}

    resumed = seqkit_process("run", "recipes/ltsf", *KILLED, f"run_dir={run_dir}", "--resume", run_dir)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert "resuming from" in (run_dir / "train.log").read_text()
    metrics = results(json.loads((run_dir / "metrics.json").read_text()))
    assert close(metrics, reference[1], 1e-6), (metrics, reference[1])
    for path, content in before.items():  # kept, the log only appended to
        assert path.read_bytes().startswith(content)
    steps = [line.split(",") for line in (run_dir / "logs" / "metrics.csv").read_text().splitlines()[1:]]
    reference_steps = (reference[0] / "logs" / "metrics.csv").read_text().splitlines()[1:]
    assert len(steps) == len(reference_steps)  # the rows logged before the checkpoint are kept


# recipes/asr on AN4, tiny: duration batches, speed-perturbed copies and the audio cache across a kill.
SPEECH = ["model.frontend.n_mels=40", "model.frontend.filters=4", "model.frontend.dim=16", "model.backend.hidden=16",
          "model.backend.layers=1", "data.max_seconds=24", "trainer.max_epochs=2", "trainer.limit_train_batches=8",
          "trainer.limit_val_batches=2", "trainer.limit_test_batches=2", "trainer.checkpoint_every_n_steps=2",
          "decode.lexicon=none", "trainer.enable_progress_bar=false"]


def test_a_killed_speech_run_resumes_to_the_same_metrics(tmp_path, data_root):
    reference = results(run_recipe(ROOT / "recipes/asr", SPEECH + [f"run_dir={tmp_path / 'reference'}"]))
    run_dir = tmp_path / "killed"
    assert 2 <= killed_at_first_checkpoint("asr", SPEECH, run_dir) < 16 and not (run_dir / "metrics.json").exists()
    resumed = seqkit_process("run", "recipes/asr", *SPEECH, f"run_dir={run_dir}", "--resume", run_dir)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert close(results(json.loads((run_dir / "metrics.json").read_text())), reference, 1e-6)


def test_resume_refuses_other_settings_and_finished_runs(reference, cli, tmp_path):
    finished, _ = reference
    result = cli("run", ROOT / "recipes/ltsf", *KILLED, "--resume", finished)
    assert result.code == 2 and "has finished" in result.err
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_bytes((finished / "config.yaml").read_bytes())
    result = cli("run", ROOT / "recipes/ltsf", *KILLED, "data.pred_len=48", "--resume", unfinished)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "data.pred_len is 48 here but 96" in result.err
    assert sorted(p.name for p in unfinished.iterdir()) == ["config.yaml"]


def test_truncated_checkpoint_is_named_and_the_previous_one_kept(reference, cli, tmp_path):
    finished, _ = reference
    good = finished / "checkpoints" / "last.ckpt"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_bytes((finished / "config.yaml").read_bytes())
    data = good.read_bytes()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 2])
    result = cli("run", ROOT / "recipes/ltsf", *KILLED, "--resume", run_dir)
    assert result.code == 2 and "last.ckpt: not a readable checkpoint, truncated or corrupt" in result.err
    # Lightning's own path (fit/test with ckpt_path) reads through the same safe loader.
    task = sk.Task(sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
                                   "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast"}},
                                  in_dim=7, channels=7, pred_len=96))
    trainer = sk.make_trainer({"enable_progress_bar": False, "logger": False})
    with pytest.raises(sk.SeqkitError, match="last.ckpt: not a readable"):
        trainer.test(task, dataloaders=[{"inputs": torch.zeros(1, 96, 7)}], ckpt_path=run_dir / "checkpoints/last.ckpt")

    # An atomic save interrupted before its rename leaves the previous file whole.
    target = tmp_path / "atomic.ckpt"
    save_file({"state_dict": {}, "seqkit": {"n": 1}}, target)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill in the middle of torch.save

    original = torch.save
    torch.save = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            save_file({"state_dict": {}, "seqkit": {"n": 2}}, target)
    finally:
        torch.save = original
    assert load_file(target)["seqkit"] == {"n": 1}


class Payload:
    """A pickle that runs code when loaded: it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_with_a_pickle_payload_is_refused(cli, tmp_path):
    marker = tmp_path / "payload-ran"
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "seqkit": {"config": Payload(marker)}}, crafted)
    assert not marker.exists()
    with pytest.raises(sk.SeqkitError, match="refused to load"):
        sk.load_model(crafted)
    result = cli("eval", crafted)
    assert result.code == 2 and "refused to load" in result.err
    trainer = sk.make_trainer({"enable_progress_bar": False, "logger": False})
    task = sk.Task(sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
                                   "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast"}},
                                  in_dim=7, channels=7, pred_len=96))
    with pytest.raises(sk.SeqkitError, match="refused to load"):
        trainer.test(task, dataloaders=[{"inputs": torch.zeros(1, 96, 7)}], ckpt_path=crafted)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(crafted, weights_only=True)  # the library itself refuses, and nothing ran
    assert not marker.exists()


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(cli, tmp_path, monkeypatch):
    from seqkit.blocks.forecast import Forecast

    calls = {"n": 0}
    loss = Forecast.loss

    def poisoned(self, *args):
        value = loss(self, *args)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 7:  # training step 7
                return value * float("nan")
        return value

    monkeypatch.setattr(Forecast, "loss", poisoned)
    run_dir = tmp_path / "run"
    result = cli("run", ROOT / "recipes/ltsf", *TINY, "trainer.max_epochs=1", "trainer.limit_train_batches=20",
                 "trainer.checkpoint_every_n_steps=3", "trainer.accumulate_grad_batches=1", f"run_dir={run_dir}")
    assert result.code == 2
    assert "training loss is nan at step 7 (epoch 1, batch 7)" in result.err and result.err.count("\n") == 1
    kept = load_file(run_dir / "checkpoints" / "last.ckpt")
    assert kept["global_step"] == 6
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values())
    assert not (run_dir / "metrics.json").exists()


# The debug overlay, smaller models where the recipe's own would dominate the test's time.
DETERMINISM = {
    "ltsf": ["model.frontend.dim=64", "model.backend.hidden=64", "trainer.precision=32-true"],
    "lm": ["model.frontend.dim=64", "model.backend.hidden=64", "trainer.precision=32-true"],
    "digits": ["data.train_utterances=48", "data.eval_utterances=32", "model.backend.hidden=64"],
    "kws": ["model.backend.hidden=64"],
}


@pytest.mark.parametrize("recipe", list(DETERMINISM))
def test_same_seed_same_metrics(recipe, tmp_path):
    runs = []
    for k in range(2):
        overrides = DETERMINISM[recipe] + ["trainer.enable_progress_bar=false", f"run_dir={tmp_path / str(k)}"]
        runs.append(results(run_recipe(ROOT / "recipes" / recipe, overrides, [DEBUG])))
    assert runs[0] == runs[1]


def test_ddp_over_two_processes_is_close_to_one(tmp_path):
    overrides = TINY + ["trainer.enable_progress_bar=false"]
    single = results(run_recipe(ROOT / "recipes/ltsf", overrides + [f"run_dir={tmp_path / 'one'}"], [DEBUG]))
    process = seqkit_process("run", "recipes/ltsf", "-c", DEBUG, "-c", ROOT / "configs/ddp.yaml", *overrides,
                             f"run_dir={tmp_path / 'ddp'}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    ddp = results(json.loads((tmp_path / "ddp" / "metrics.json").read_text()))
    for name, value in single["test"].items():
        assert ddp["test"][name] == pytest.approx(value, rel=0.02), name
    assert ddp["best_val_loss"] == pytest.approx(single["best_val_loss"], rel=0.02)
    assert ddp["test"] != single["test"]  # two processes really trained (float sums in another order)
    assert (tmp_path / "ddp" / "forecast.png").is_file() and (tmp_path / "ddp" / "loss.png").is_file()


def test_only_the_main_process_writes_plots(tmp_path, monkeypatch):
    from seqkit.plots import confusion_plot

    for rank, written in (("1", False), ("0", True)):
        monkeypatch.setenv("LOCAL_RANK", rank)
        path = tmp_path / f"rank{rank}.png"
        confusion_plot(path, torch.eye(3).numpy(), ["a", "b", "c"])
        assert path.is_file() == written


def test_a_file_that_is_not_a_checkpoint_is_named(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("data:\n  path: ETT-small/ETTh1.csv\n")
    for command in (("eval", config), ("predict", config, "--csv", config)):
        result = cli(*command)
        assert result.code == 2 and f"{config}: not a readable checkpoint" in result.err
        assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_testing_an_earlier_checkpoint_keeps_every_epoch_in_the_history(tmp_path):
    # Lightning restores the callbacks' state from the checkpoint it tests: the kws recipe once
    # reported 52 of its 60 epochs (those of its best checkpoint) this way.
    data = sk.SeriesData("ETT-small/ETTh1.csv", seq_len=96, pred_len=48, batch_size=32)
    settings = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "limit_test_batches": 1,
                "enable_progress_bar": False}

    def fitted(epochs: int, run_dir: Path):
        model = sk.build_model({"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
                                "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast"}},
                               **data.dims)
        trainer = sk.make_trainer({**settings, "max_epochs": epochs}, run_dir)
        task = sk.Task(model, lr=1e-3, info={"config": {}, "dims": data.dims})
        trainer.fit(task, datamodule=data)
        return trainer, task

    fitted(1, tmp_path / "one")  # a checkpoint whose history holds one epoch
    trainer, task = fitted(3, tmp_path / "three")
    assert [e["epoch"] for e in sk.history(trainer)] == [1, 2, 3]
    trainer.test(task, datamodule=data, ckpt_path=tmp_path / "one/checkpoints/last.ckpt", verbose=False)
    assert [e["epoch"] for e in sk.history(trainer)] == [1, 2, 3]
