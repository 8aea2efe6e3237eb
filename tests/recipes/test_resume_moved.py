"""A resumed run uses its own folder's checkpoints wherever that folder now lives (moved, copied),
and ``--resume`` refuses a run of another recipe by naming it, but not a change of display settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import seqkit as sk
from seqkit.recipes import run_recipe

from helpers import ROOT, digest

# test_reliability's small SegRNN on ETTh1 (float32, exact on the CPU), two short epochs.
TINY = ["data.seq_len=96", "model.frontend.dim=64", "model.backend.hidden=64", "trainer.precision=32-true",
        "trainer.enable_progress_bar=false", "data.batch_size=16", "trainer.limit_val_batches=4",
        "trainer.limit_test_batches=4", "trainer.max_epochs=2", "trainer.limit_train_batches=6"]


def finished_run(run_dir: Path) -> Path:
    """A finished run made with ``run_dir=`` (its parent folder is not named after the recipe)."""
    run_recipe(ROOT / "recipes/ltsf", TINY + [f"run_dir={run_dir}"])
    return run_dir


def unfinished(run_dir: Path) -> Path:
    """`run_dir` as a run interrupted after its training: no metrics.json yet."""
    (run_dir / "metrics.json").unlink()
    return run_dir


def resumed_log(run_dir: Path) -> str:
    """What the run's train.log says from its resume on."""
    text = (run_dir / "train.log").read_text()
    return text[text.index("(resumed)"):]


def own_best(cli, run_dir: Path) -> dict:
    """``seqkit eval`` of the run's own best checkpoint."""
    result = cli("eval", run_dir / "checkpoints" / "best.ckpt")
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_root) -> Path:
    """One finished run the refusal tests copy (and never change)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        return finished_run(tmp_path_factory.mktemp("resume-moved") / "base")


def test_a_copy_tests_its_own_best_checkpoint_while_the_original_is_there(cli, tmp_path):
    original = finished_run(tmp_path / "base")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    unfinished(copy)
    # The original's best weights changed: testing them instead of the copy's would show.
    best = original / "checkpoints" / "best.ckpt"
    checkpoint = torch.load(best, weights_only=True)
    checkpoint["state_dict"] = {k: v + 0.5 if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    torch.save(checkpoint, best)
    assert own_best(cli, original) != pytest.approx(own_best(cli, copy), rel=1e-3)
    before = digest(original)

    result = cli("run", ROOT / "recipes/ltsf", *TINY, "--resume", copy)
    assert result.code == 0, result.err
    metrics = json.loads((copy / "metrics.json").read_text())
    assert metrics["test"] == pytest.approx(own_best(cli, copy), rel=1e-6)
    assert f"Restored all states from the checkpoint at {copy.resolve()}/checkpoints/last.ckpt" in resumed_log(copy)
    assert str(original) not in resumed_log(copy) and str(original.resolve()) not in resumed_log(copy)
    assert str(original) not in result.err + result.out
    assert digest(original) == before  # nothing of the original read for the result, nothing written there


def test_a_moved_run_finishes_without_its_old_folder(cli, tmp_path):
    original = finished_run(tmp_path / "base")
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(original, moved)
    unfinished(moved)

    result = cli("run", ROOT / "recipes/ltsf", *TINY, "--resume", moved)
    assert result.code == 0, result.err
    metrics = json.loads((moved / "metrics.json").read_text())
    assert metrics["test"] == pytest.approx(own_best(cli, moved), rel=1e-6)
    assert str(original) not in resumed_log(moved)
    assert not original.exists()


def test_the_checkpoint_state_follows_the_folder(finished, tmp_path):
    # Every path Lightning's checkpoint callback keeps (best, last, the k best) is mapped into the
    # folder the run is resumed in, with the scores kept: later validations compare with the copy's best.
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    saved = torch.load(finished / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]
    (key, state), = ((k, v) for k, v in saved.items() if k.startswith("ModelCheckpoint"))
    assert state["dirpath"] == str(finished.resolve() / "checkpoints")
    trainer = sk.make_trainer({"enable_progress_bar": False, "logger": False}, copy)
    callback = trainer.checkpoint_callback
    assert callback.state_key == key  # the runs written before keep their callback state
    callback.load_state_dict(state)
    here = copy.resolve() / "checkpoints"
    assert callback.best_model_path == str(here / "best.ckpt")
    assert callback.last_model_path == str(here / "last.ckpt")
    assert callback.kth_best_model_path == str(here / "best.ckpt")
    assert list(callback.best_k_models) == [str(here / "best.ckpt")]
    assert callback.best_model_score == state["best_model_score"]


def test_resuming_with_another_recipe_names_the_run_s_recipe(finished, cli, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    unfinished(copy)
    before = digest(copy)
    result = cli("run", ROOT / "recipes/lm", "--resume", copy)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "made by the recipe 'ltsf', not 'lm'" in result.err
    assert "<unset>" not in result.err
    assert digest(copy) == before

    # No checkpoint yet (killed before the first): a default run directory runs/<recipe>/<time> names it.
    default = tmp_path / "runs" / "ltsf" / "20250101-120000"
    default.mkdir(parents=True)
    shutil.copy(finished / "config.yaml", default / "config.yaml")
    result = cli("run", ROOT / "recipes/lm", "--resume", default)
    assert result.code == 2 and "made by the recipe 'ltsf'" in result.err and "<unset>" not in result.err
    assert sorted(p.name for p in default.iterdir()) == ["config.yaml"]


def test_display_settings_do_not_block_a_resume(finished, cli, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    unfinished(copy)
    shown = [s for s in TINY if not s.startswith("trainer.enable_progress_bar")]
    result = cli("run", ROOT / "recipes/ltsf", *shown, "trainer.enable_progress_bar=true",
                 "trainer.log_every_n_steps=1", "--resume", copy)
    assert result.code == 0, result.err
    assert (copy / "metrics.json").is_file()
    # A setting that changes the result still does.
    again = tmp_path / "again"
    shutil.copytree(finished, again)
    unfinished(again)
    result = cli("run", ROOT / "recipes/ltsf", *TINY, "train.lr=0.01", "--resume", again)
    assert result.code == 2 and "train.lr is 0.01 here but 0.0003" in result.err
