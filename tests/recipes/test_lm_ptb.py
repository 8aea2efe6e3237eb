"""The word-level language model on Penn Treebank (recipes/lm -c recipes/lm/ptb.yaml): a debug run,
`seqkit generate` and `seqkit eval` from its checkpoint, a folder corpus of one's own, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import seqkit as sk

from helpers import ROOT

SMALL = ["model.frontend.dim=32", "model.backend.hidden=32", "sample.length=30", "data.batch_size=8",
         "trainer.limit_val_batches=20", "trainer.limit_test_batches=20", "trainer.checkpoint_every_n_steps=0"]


@pytest.fixture(scope="module")
def ptb_run(tmp_path_factory, data_root):
    """One debug run of the PTB overlay (a small model, a few steps), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("ptb") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        sk.run_recipe(ROOT / "recipes/lm", [f"run_dir={run_dir}", *SMALL],
                      [ROOT / "recipes/lm/ptb.yaml", ROOT / "configs/debug.yaml"])
    return run_dir


def test_the_ptb_run_reports_validation_and_test_perplexity(ptb_run):
    metrics = json.loads((ptb_run / "metrics.json").read_text())
    for split in ("val", "test"):
        scores = metrics[split]
        assert scores["perplexity"] == pytest.approx(math.exp(scores["loss"]), rel=1e-6)
        assert 100 < scores["perplexity"] < 10_000 * 1.5  # a few steps: far from uniform's 10,000 or better
    assert metrics["data"]["vocab_size"] == 10_000
    assert metrics["data"]["tokens"]["train"] == 8 * ((929_589 - 1) // 8)  # 8 streams of targets
    assert metrics["eval_streams"] == 10
    assert (ptb_run / "samples.txt").read_text().startswith("the ")


def test_generate_on_the_word_model(ptb_run, cli):
    first = cli("generate", ptb_run, "--prompt", "the market", "--length", "40", "--seed", "3")
    again = cli("generate", ptb_run, "--prompt", "the market", "--length", "40", "--seed", "3")
    assert first.code == 0, first.err
    assert first.out == again.out and first.out[:len("the market") + 1] in ("the market ", "the market\n")
    other = cli("generate", ptb_run, "--prompt", "the market", "--length", "40", "--seed", "4")
    assert other.code == 0 and other.out != first.out
    words, ends = len(first.out.split()) - 2, first.out.count("\n")  # <eos> prints as a line end
    assert 40 - ends <= words <= 40 and words + ends >= 40 and "<eos>" not in first.out
    # An unknown word: a one-line notice on stderr (the command in a process of its own), the text on stdout.
    unknown = subprocess.run([sys.executable, "-m", "seqkit.cli", "generate", str(ptb_run), "--prompt",
                              "the zyzzyva market", "--length", "5", "--seed", "3"], capture_output=True, text=True)
    assert unknown.returncode == 0 and unknown.stdout.startswith("the zyzzyva market")
    assert "zyzzyva" in unknown.stderr and "<unk>" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad = cli("generate", ptb_run, "--prompt", "zyzzyva qwxz", "--length", "5")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1 and "zyzzyva" in bad.err
    assert bad.out == ""


def test_eval_reports_validation_and_test_perplexity(ptb_run, cli):
    result = cli("eval", ptb_run)
    assert result.code == 0, result.err
    scores = json.loads(result.out)
    metrics = json.loads((ptb_run / "metrics.json").read_text())
    assert set(scores) == {"val", "test"}
    for split in ("val", "test"):
        assert scores[split]["perplexity"] == pytest.approx(metrics[split]["perplexity"], rel=1e-4)
    only = json.loads(cli("eval", ptb_run, "--split", "val").out)
    assert only["perplexity"] == pytest.approx(metrics["val"]["perplexity"], rel=1e-4)


def test_a_folder_corpus_of_ones_own(tmp_path, cli, data_root):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, source, lines in (("train", "ptb.train.txt", 3000), ("valid", "ptb.valid.txt", 300),
                                ("test", "ptb.test.txt", 300)):
        text = (data_root / "ptb" / source).read_text().splitlines(keepends=True)[:lines]
        (corpus / f"{name}.txt").write_text("".join(text))
    result = cli("run", "recipes/lm", "-c", "recipes/lm/ptb.yaml", "-c", "configs/debug.yaml",
                 f"data.path={corpus}", *SMALL, f"run_dir={tmp_path / 'run'}")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["vocab_size"] < 10_000 and {"val", "test"} <= set(metrics)
    (corpus / "test.txt").unlink()
    result = cli("run", "recipes/lm", "-c", "recipes/lm/ptb.yaml", "-c", "configs/debug.yaml",
                 f"data.path={corpus}", *SMALL, f"run_dir={tmp_path / 'again'}")
    assert result.code == 2 and "test" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "again").exists()
