"""The spoken-digit classifier recipe end to end: run, eval, transcribe, choices and an ensemble of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqkit.data.fsdd import DIGITS

from helpers import ROOT, run_cli


def test_kws_recipe_smoke_run(tmp_path, data_root):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/kws", "-c", ROOT / "configs/debug.yaml",
                                 f"run_dir={tmp_path / 'run'}")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    matrix = np.array(metrics["confusion"]["matrix"])
    assert matrix.shape == (10, 10) and metrics["confusion"]["labels"] == sorted(DIGITS)
    assert matrix.sum() == min(2 * 16, 250)  # debug: two test batches of 16 recordings
    assert (tmp_path / "run/confusion.png").is_file()
    code, out, err = run_cli("eval", tmp_path / "run")
    assert code == 0 and set(json.loads(out)) == {"accuracy"}
    # transcribe: each file's word and its probability; with --choices, the best of those words.
    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2")]
    code, out, err = run_cli("transcribe", tmp_path / "run", *wavs, "--json")
    assert code == 0, err
    words = [json.loads(line) for line in out.splitlines()]
    assert all(w["text"] in DIGITS and 0.1 <= w["probability"] <= 1 for w in words)
    others = [d for d in DIGITS if d not in {w["text"] for w in words}][:2]
    code, out, err = run_cli("transcribe", tmp_path / "run", *wavs, "--json", "--choices", ",".join(others))
    chosen = [json.loads(line) for line in out.splitlines()]
    assert all(c["text"] in others and c["probability"] < w["probability"] for c, w in zip(chosen, words))
    # An ensemble of a classifier with itself: the same words with the same probabilities.
    code, out, err = run_cli("ensemble", tmp_path / "run", tmp_path / "run", "--out", tmp_path / "twice.ckpt")
    assert code == 0 and out.strip().endswith("an ensemble of 2 kws models"), err
    code, out, err = run_cli("transcribe", tmp_path / "twice.ckpt", *wavs, "--json")
    twice = [json.loads(line) for line in out.splitlines()]
    assert [t["text"] for t in twice] == [w["text"] for w in words], err
    assert [t["probability"] for t in twice] == pytest.approx([w["probability"] for w in words], abs=1e-4)
    for options, message in [(["--beam", "4"], "a word classifier (kws): it takes no --beam, --lm or --lexicon"),
                             (["--choices", "one two"], "one per choice")]:
        code, out, err = run_cli("transcribe", tmp_path / "run", wavs[0], *options)
        assert code == 2 and message in err, err
