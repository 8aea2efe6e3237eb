"""Settings are checked against what they accept before anything is written; a run's stdout holds
its result alone, each log line is on stderr once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seqkit.config import load_config
from seqkit.errors import SeqkitError
from seqkit.recipes import find_recipe

from helpers import ROOT, run_cli

DEBUG = ROOT / "configs/debug.yaml"


def test_an_override_is_typed_by_what_the_setting_takes_not_by_the_overlay():
    # the debug overlay writes 3 batches; a fraction of them is as valid as in the recipe's own 1.0
    cfg = load_config(ROOT / "recipes/ltsf", [DEBUG], ["trainer.limit_train_batches=0.5"])
    assert cfg.trainer.limit_train_batches == 0.5
    with pytest.raises(SeqkitError, match="data.pred_len in the command-line overrides must be an integer, got 0.5"):
        load_config(ROOT / "recipes/ltsf", [DEBUG], ["data.pred_len=0.5"])


def test_a_single_value_where_a_list_is_expected_is_a_list_of_one():
    assert list(load_config(ROOT / "recipes/digits", overrides=["data.test_speakers=lucas"]).data.test_speakers) == \
        ["lucas"]


@pytest.mark.parametrize("recipe, override, message", [
    ("ltsf", "train.lr=-1", "train.lr must be a learning rate above 0, got -1"),
    ("ltsf", "train.lr=0", "train.lr must be a learning rate above 0, got 0"),
    ("ltsf", "trainer.limit_train_batches=0", "trainer.limit_train_batches must be a number of batches (1 or more) "
                                              "or a fraction of them in (0, 1], got 0"),
    ("ltsf", "trainer.limit_test_batches=1.5", "trainer.limit_test_batches must be a number of batches"),
    ("digits", "data.noise_snr=5", "data.noise_snr must be [low, high] in dB with low <= high, got 5"),
    ("kws", "data.noise_snr=5", "data.noise_snr must be [low, high] in dB with low <= high, got [5]"),
])
def test_a_value_no_run_can_use_is_one_line_and_writes_nothing(tmp_path, recipe, override, message):
    result = run_cli("run", ROOT / "recipes" / recipe, "-c", DEBUG, override, f"run_dir={tmp_path / 'run'}")
    assert result.code == 2 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_folder_for_an_overlay_a_recipes_own_file_and_missing_data_for_new(tmp_path):
    result = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs")
    assert result.code == 2 and "configs is a folder; give a YAML file" in result.err
    assert find_recipe(ROOT / "recipes/ltsf/config.yaml") == find_recipe(ROOT / "recipes/ltsf/recipe.py") == \
        ROOT / "recipes/ltsf"
    result = run_cli("new", tmp_path / "mine", "--frontend", "segmenter", "--backend", "gru", "--head", "forecast",
                     "--data", tmp_path / "nofile.csv")
    assert result.code == 2 and "nofile.csv: no such file or folder" in result.err and not (tmp_path / "mine").exists()


def test_stdout_holds_the_result_and_stderr_each_log_line_once(tmp_path, data_root):
    small = ["data.seq_len=96", "model.frontend.dim=32", "model.backend.hidden=32"]
    result = subprocess.run([sys.executable, "-m", "seqkit.cli", "run", "ltsf", "-c", "debug", *small,
                             f"run_dir={tmp_path / 'run'}"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "SEQKIT_DATA": str(data_root)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("test MSE "), result.stdout
    lines = result.stderr.splitlines()
    assert sum("GPU available" in line for line in lines) == 1 and "Total params" in result.stderr
    assert "Tip:" not in result.stderr and "Epoch 0" in result.stderr


def test_a_setting_lightning_refuses_once_it_sees_the_data_leaves_no_run_behind(tmp_path):
    # 0.001 of ETTh1's training batches is less than one batch: Lightning says so at the start of training
    result = run_cli("run", ROOT / "recipes/ltsf", "-c", DEBUG, "trainer.limit_train_batches=0.001",
                     f"run_dir={tmp_path / 'run'}")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("error: trainer settings: ") and "limit_train_batches" in result.err
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine").mkdir()  # an empty folder of the user's is used, and kept
    result = run_cli("run", ROOT / "recipes/ltsf", "-c", DEBUG, "trainer.limit_train_batches=0.001",
                     f"run_dir={tmp_path / 'mine'}")
    assert result.code == 2 and (tmp_path / "mine").is_dir()
