"""The language-model recipe on Tiny Shakespeare: its smoke run, `seqkit generate` and eval, bad text files."""

from __future__ import annotations

import json
import math

import pytest

import seqkit as sk

from helpers import ROOT


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, data_root):
    """One debug run of recipes/lm (a small model, a few steps), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("lm") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        sk.run_recipe(ROOT / "recipes/lm", [f"run_dir={run_dir}", "model.backend.hidden=64",
                                            "model.frontend.dim=64", "sample.length=40"],
                      [ROOT / "configs/debug.yaml"])
    return run_dir


def test_recipe_smoke_run_writes_every_file(lm_run):
    for name in ["config.yaml", "metrics.json", "train.log", "loss.png", "samples.txt",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"]:
        assert (lm_run / name).is_file(), name
    metrics = json.loads((lm_run / "metrics.json").read_text())
    val = metrics["val"]
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]), rel=1e-6)
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2), rel=1e-6)  # characters: one token each
    assert 1.0 < val["loss"] < math.log(65) + 1  # a few steps of training on 65 characters
    assert metrics["data"]["characters"] == {"train": 1003854, "val": 111540}  # nanoGPT's split
    assert (lm_run / "samples.txt").read_text().startswith("ROMEO:")


def test_generate_from_the_checkpoint_is_reproducible(lm_run, cli):
    first = cli("generate", lm_run, "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.8",
                "--top-k", "40", "--seed", "1")
    again = cli("generate", lm_run / "checkpoints/best.ckpt", "--prompt", "ROMEO:", "--length", "50",
                "--temperature", "0.8", "--top-k", "40", "--seed", "1")
    assert first.code == 0, first.err
    assert first.out == again.out and first.out.startswith("ROMEO:") and len(first.out) == len("ROMEO:") + 51
    bad = cli("generate", lm_run, "--prompt", "ROMEO €")
    assert bad.code == 2 and bad.err.startswith("error: character '€' is not in the model's alphabet")


def test_eval_recomputes_the_validation_scores(lm_run, cli):
    result = cli("eval", lm_run)
    assert result.code == 0, result.err
    scores = json.loads(result.out)
    metrics = json.loads((lm_run / "metrics.json").read_text())
    assert set(scores) == {"val"}  # one text split 90/10: no test split
    assert scores["val"]["loss"] == pytest.approx(metrics["val"]["loss"], rel=1e-5)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"To be, or not to be\xff\xfe that is", "not UTF-8 text: byte 0xff at byte offset 19"),
    (b"ROMEO: short text\n" * 3, "shorter than one batch"),
])
def test_bad_text_files_get_one_line_errors(tmp_path, cli, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    result = cli("run", "lm", f"data.path={path}", "-c", "configs/debug.yaml", f"run_dir={tmp_path / 'run'}")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert str(path) in result.err
    assert not (tmp_path / "run").exists()
