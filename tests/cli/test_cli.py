"""The small commands: blocks, ls, cp, --help."""

from __future__ import annotations

import json

import pytest

from seqkit.blocks import BACKENDS, FRONTENDS, HEADS

from helpers import ROOT, run_cli


def test_blocks_lists_every_block_with_arguments(cli):
    result = cli("blocks")
    assert result.code == 0
    for name in [*FRONTENDS, *BACKENDS, *HEADS]:
        assert f"  {name} " in result.out
    assert "seg_len = 24" in result.out and "decoding = 'pmf'" in result.out
    assert "in_dim" not in result.out  # derived, never set in a config


def test_ls_lists_the_bundled_recipes(cli):
    result = cli("ls")
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()] == ["asr", "digits", "kws", "lm", "ltsf"]


def test_cp_copies_a_recipe_and_never_overwrites(cli, tmp_path):
    dest = tmp_path / "my_ltsf"
    assert cli("cp", "ltsf", dest).code == 0
    overlays = ["etth1.yaml", "etth2.yaml", "ettm1.yaml", "ettm2.yaml", "weather.yaml"]  # a copy keeps its data sets
    assert sorted(p.name for p in dest.iterdir()) == sorted(["README.md", "config.yaml", "recipe.py", *overlays])
    (dest / "config.yaml").write_text("mine\n")
    result = cli("cp", "ltsf", dest)
    assert result.code == 2 and "already exists" in result.err
    assert (dest / "config.yaml").read_text() == "mine\n"


def test_unknown_recipe_and_help(cli):
    result = cli("run", "ltfs")
    assert result.code == 2 and "did you mean ltsf" in result.err
    result = cli("--help")
    assert result.code == 0 and "predict" in result.out and "blocks" in result.out


def test_new_writes_a_recipe_that_runs_as_is(cli, tmp_path, etth1):
    csv = tmp_path / "load.csv"
    csv.write_text(etth1.read_text())  # a CSV of one's own: the custom 70/10/20 protocol
    dest = tmp_path / "my_task"
    result = cli("new", dest, "--frontend", "segmenter", "--backend", "gru", "--head", "forecast", "--data", csv)
    assert result.code == 0, result.err
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.yaml", "recipe.py"]
    config = (dest / "config.yaml").read_text()
    assert "backend:\n    name: gru" in config and str(csv) in config
    run = cli("run", dest, "-c", ROOT / "configs/debug.yaml", "data.seq_len=96", f"run_dir={tmp_path / 'run'}")
    assert run.code == 0, run.err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["test"]["mse"] > 0
    again = cli("new", dest, "--frontend", "segmenter", "--backend", "gru", "--head", "forecast")
    assert again.code == 2 and "already exists" in again.err


@pytest.mark.parametrize("args, message", [
    (["--frontend", "embedding", "--backend", "gru", "--head", "forecast"],
     "--frontend embedding reads text, but the forecast head's task (ltsf) reads a CSV time series"),
    (["--frontend", "segmenter", "--backend", "gur", "--head", "forecast"], "--backend 'gur': unknown; did you mean"),
])
def test_new_refuses_blocks_that_do_not_fit(cli, tmp_path, args, message):
    result = cli("new", tmp_path / "x", *args)
    assert result.code == 2 and message in result.err and not (tmp_path / "x").exists()


def test_a_trainer_setting_lightning_refuses_is_one_line_with_a_fix(tmp_path):
    for setting, named in (("trainer.limit_train_batches=-1", "limit_train_batches"),  # MisconfigurationException
                           ("trainer.num_nodes=0", "num_nodes")):  # ValueError
        code, _, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", setting,
                               f"run_dir={tmp_path / named}")
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and "Traceback" not in err
        assert errors[0].startswith("error: trainer settings: ") and named in errors[0]
        assert "fix that trainer.* value" in errors[0]
    code, _, err = run_cli("run", ROOT / "recipes/ltsf", "trainer.max_epochs=0", f"run_dir={tmp_path / 'none'}")
    assert code == 2 and "trainer.max_epochs must be at least 1, or -1" in err
    assert not (tmp_path / "none").exists()  # refused with the config, before a run directory exists
