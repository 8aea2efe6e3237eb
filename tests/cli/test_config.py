"""Config loading: overlays, overrides, unknown keys with the nearest names, every config file builds."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from seqkit.config import load_config
from seqkit.errors import SeqkitError
from seqkit.model import build_model

from helpers import ROOT

RECIPES = sorted(p for p in (ROOT / "recipes").iterdir() if (p / "config.yaml").is_file())
OVERLAYS = sorted((ROOT / "configs").glob("*.yaml"))


def test_overrides_and_overlays_apply_in_order(tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("data:\n  pred_len: 192\ntrainer:\n  max_epochs: 7\n")
    cfg = load_config(ROOT / "recipes/ltsf", [ROOT / "configs/debug.yaml", overlay],
                      ["data.pred_len=336", "trainer.max_epochs=3", "model.backend.cell=lstm"])
    assert (cfg.data.pred_len, cfg.trainer.max_epochs, cfg.model.backend.cell) == (336, 3, "lstm")
    assert cfg.trainer.limit_train_batches == 3  # from the debug overlay
    assert cfg.data.batch_size == 16


def test_unknown_key_names_the_nearest_valid_ones():
    with pytest.raises(SeqkitError, match=r"unknown key 'data.pred_lem'.*did you mean data.pred_len"):
        load_config(ROOT / "recipes/ltsf", overrides=["data.pred_lem=3"])
    with pytest.raises(SeqkitError, match=r"unknown key 'trainer.max_epoch'.*trainer.max_epochs"):
        load_config(ROOT / "recipes/ltsf", overrides=["trainer.max_epoch=3"])


def test_unknown_key_in_an_overlay_names_the_file(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("trainer:\n  max_epoch: 2\n")
    with pytest.raises(SeqkitError, match=r"bad.yaml.*did you mean trainer.max_epochs"):
        load_config(ROOT / "recipes/ltsf", [overlay])


def test_block_arguments_are_checked_against_the_blocks():
    cfg = load_config(ROOT / "recipes/ltsf", overrides=["model.backend.name=gru", "model.backend.layers=2"])
    assert cfg.model.backend.layers == 2
    with pytest.raises(SeqkitError, match=r"model.backend.hiden.*did you mean hidden"):
        load_config(ROOT / "recipes/ltsf", overrides=["model.backend.hiden=3"])
    with pytest.raises(SeqkitError, match=r"unknown backend 'transformer'"):
        load_config(ROOT / "recipes/ltsf", overrides=["model.backend.name=transformer"])


@pytest.mark.parametrize("override, message", [
    ("data.pred_len=abc", "data.pred_len in the command-line overrides must be an integer"),
    ("trainer.max_epochs=2.5", "must be an integer"),
    ("data.scale=maybe", "must be true/false"),
    ("model.backend.hidden=big", "model.backend.hidden must be an integer, got 'big'"),
    ("model.head.dropout=[1]", "model.head.dropout must be a number"),
    ("data", "not of the form key.subkey=value"),
    ("=3", "not of the form key.subkey=value"),
])
def test_malformed_or_mistyped_overrides_fail_clearly(override, message):
    with pytest.raises(SeqkitError, match=message):
        load_config(ROOT / "recipes/ltsf", overrides=[override])


def test_broken_or_missing_overlay_file(tmp_path):
    with pytest.raises(SeqkitError, match="config file .*nope.yaml not found"):
        load_config(ROOT / "recipes/ltsf", [tmp_path / "nope.yaml"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer: [1, 2\n")
    with pytest.raises(SeqkitError, match="broken.yaml is not valid YAML"):
        load_config(ROOT / "recipes/ltsf", [broken])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
@pytest.mark.parametrize("overlay", [None, *OVERLAYS], ids=lambda p: p.name if p else "none")
def test_every_config_loads_and_builds(recipe, overlay):
    cfg = load_config(recipe, [overlay] if overlay else [])
    assert OmegaConf.select(cfg, "trainer.max_epochs") is not None
    if cfg.model.head.name == "forecast":
        model = build_model(cfg.model, in_dim=7, channels=7, seq_len=cfg.data.seq_len, pred_len=cfg.data.pred_len)
        assert model.head.pred_len == cfg.data.pred_len
