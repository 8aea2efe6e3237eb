"""The speech recipe on real corpora: AN4 by default, a user's manifests or Kaldi folder by config
alone; its run directory, its checkpoint in transcribe and eval, and one-line refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import ROOT, one_line_error

TINY = ["model.frontend.n_mels=40", "model.frontend.filters=4", "model.frontend.dim=16", "model.backend.hidden=16",
        "model.backend.layers=1", "data.max_seconds=24", "data.speed_perturb=[1.0]", "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false"]


def run_asr(cli, run_dir: Path, *overrides):
    return cli("run", ROOT / "recipes/asr", "-c", "debug", *TINY, *overrides, f"run_dir={run_dir}")


def test_an4_by_default_writes_the_run_and_its_checkpoint_transcribes_and_evaluates(an4_run, cli, data_root):
    metrics = json.loads((an4_run / "metrics.json").read_text())
    for split in ("dev", "test"):
        assert {"wer", "cer", "wer_beam", "cer_beam"} <= set(metrics[split])
    assert metrics["data"]["utterances"] == {"train": 848, "dev": 100, "test": 130}
    for name in ("checkpoints/best.ckpt", "loss.png", "transcripts.png", "train.log", "config.yaml"):
        assert (an4_run / name).is_file(), name
    lines = (an4_run / "train_transcripts.txt").read_text().splitlines()
    assert len(lines) == 848 and all(line == line.upper() for line in lines)
    info = torch.load(an4_run / "checkpoints/best.ckpt", weights_only=True)["seqkit"]
    assert info["lexicon"] == sorted({w for line in lines for w in line.split()})  # decode.lexicon: train
    assert {"wer_beam", "cer_beam"} <= set(metrics["test_lexicon"])
    wav = data_root / "an4/wav/an4test_clstk/fcaw/an406-fcaw-b.sph"
    result = cli("transcribe", an4_run, wav, "--json")
    assert result.code == 0, result.err
    line = json.loads(result.out)
    assert line["file"] == str(wav) and isinstance(line["text"], str)
    assert [w["word"] for w in line["words"]] == line["text"].split()
    assert all(0 <= w["start"] < w["end"] for w in line["words"])
    for split in ("test", "dev"):  # the best checkpoint on each split again: the run's own figures
        result = cli("eval", an4_run, "--split", split)
        assert result.code == 0, result.err
        scores = json.loads(result.out)
        assert {k: round(scores[k], 4) for k in metrics[split]} == {k: round(v, 4) for k, v in metrics[split].items()}
    code, _, err = cli("eval", an4_run, "--split", "train")
    one_line_error(code, err, "--split", "'train'")


def test_a_users_manifests_train_by_config_alone(cli, manifests, tmp_path):
    train, test, _ = manifests
    dev = tmp_path / "dev.tsv"
    lines = train.read_text().splitlines()
    dev.write_text("\n".join([lines[0], *lines[-3:]]) + "\n")
    train.write_text("\n".join(lines[:-3]) + "\n")
    result = run_asr(cli, tmp_path / "run", f"data.train={train}", f"data.dev={dev}", f"data.test={test}")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["data"]["utterances"] == {"train": 9, "dev": 3, "test": 4}


def test_a_kaldi_folder_with_derived_splits(cli, manifests, tmp_path):
    train, _, _ = manifests
    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    rows = [line.split("\t") for line in train.read_text().splitlines()[1:]]
    (kaldi / "wav.scp").write_text("".join(f"r{k} {audio}\n" for k, (audio, _, _) in enumerate(rows)))
    (kaldi / "text").write_text("".join(f"r{k} {text}\n" for k, (_, text, _) in enumerate(rows)))
    (kaldi / "utt2spk").write_text("".join(f"r{k} {speaker}\n" for k, (_, _, speaker) in enumerate(rows)))
    result = run_asr(cli, tmp_path / "run", f"data.path={kaldi}", "data.test_split={fraction: 0.3}",
                     "data.dev_split={first: 2}")
    assert result.code == 0, result.err
    counts = json.loads((tmp_path / "run/metrics.json").read_text())["data"]["utterances"]
    assert counts["dev"] == 2 and counts["train"] + counts["test"] == 10


@pytest.mark.parametrize("case", ["missing_audio", "unreadable_audio", "pipe", "empty_split", "no_text_column",
                                  "lexicon"])
def test_bad_corpora_are_refused_in_one_line_and_nothing_is_written(cli, manifests, tmp_path, case):
    train, test, _ = manifests
    overrides = [f"data.train={train}", f"data.test={test}", "data.dev_split={first: 2}"]
    if case == "missing_audio":
        train.write_text(train.read_text() + "gone/a.wav\tYES\tx\ngone/b.wav\tNO\tx\n")
        names = [train, "2 of", "gone/a.wav"]
    elif case == "unreadable_audio":
        (tmp_path / "empty.wav").touch()
        (tmp_path / "text.flac").write_text("not audio\n" * 50)
        train.write_text(train.read_text() + "empty.wav\tYES\tx\ntext.flac\tNO\tx\n")
        names = ["2 audio file(s) cannot be read", "empty.wav", "text.flac"]
    elif case == "pipe":
        kaldi = tmp_path / "kaldi"
        kaldi.mkdir()
        (kaldi / "wav.scp").write_text("r1 sph2pipe -f wav a.sph |\n")
        (kaldi / "text").write_text("r1 YES\n")
        overrides, names = [f"data.path={kaldi}"], [kaldi / "wav.scp", "line 1", "shell command"]
    elif case == "empty_split":
        overrides[-1] = "data.dev_split={speakers: []}"
        names = ["dev split has no utterances"]
    elif case == "lexicon":
        overrides.append("decode.lexicon=no_such_words.txt")
        names = ["decode.lexicon", "no_such_words.txt", "train, none or a file"]
    else:
        train.write_text(train.read_text().replace("text", "words", 1))
        names = [train, "line 1", "'text'"]
    result = run_asr(cli, tmp_path / "run", *overrides)
    one_line_error(result.code, result.err, *names)
    assert not (tmp_path / "run").exists()
