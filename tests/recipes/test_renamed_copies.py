"""Commands decide by the model a checkpoint holds, never by the recipe's name: a renamed copy of
each bundled recipe trains, and every command of its task takes its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from helpers import ROOT

DEBUG = ROOT / "configs/debug.yaml"
WAVS = ("3_lucas_1", "7_george_2", "0_jackson_4")
ONE_BATCH = ("trainer.limit_train_batches=1", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1")
SMALL = {  # small models: the point is what the commands accept, not what the models learn
    "ltsf": ["data.seq_len=96", "model.frontend.dim=32", "model.backend.hidden=32"],
    "digits": ["data.train_utterances=32", "data.eval_utterances=16", "model.frontend.filters=8",
               "model.frontend.dim=32", "model.backend.hidden=32"],
    "kws": ["model.frontend.filters=8", "model.frontend.dim=32", "model.backend.hidden=32"],
    "lm": ["model.frontend.dim=32", "model.backend.hidden=32", "sample.length=10"],
}


def trained_copy(cli, recipe: str, tmp_path: Path) -> tuple[Path, Path]:
    """`seqkit cp RECIPE my_RECIPE`, then a small debug run of the copy: (the copy's folder, its run)."""
    folder, run = tmp_path / f"my_{recipe}", tmp_path / "run"
    assert cli("cp", recipe, folder).code == 0
    result = cli("run", folder, "-c", DEBUG, *ONE_BATCH, *SMALL[recipe], f"run_dir={run}")
    assert result.code == 0, result.err
    info = torch.load(run / "checkpoints/best.ckpt", weights_only=True)["seqkit"]
    assert info["recipe"] == f"my_{recipe}"  # the copy's own name, recorded and not used for dispatch
    return folder, run


def test_a_renamed_speech_recogniser_transcribes_evaluates_adapts_ensembles_and_exports(cli, tmp_path, data_root):
    _, run = trained_copy(cli, "digits", tmp_path)
    wavs = [data_root / f"fsdd/recordings/{name}.wav" for name in WAVS]
    result = cli("transcribe", run, *wavs, "--json", "--beam", "4", "--lexicon", "zero,one,three")
    assert result.code == 0 and [json.loads(line)["file"] for line in result.out.splitlines()] == list(map(str, wavs))
    result = cli("eval", run)
    assert result.code == 0 and {"wer", "cer", "wer_beam", "cer_beam"} <= set(json.loads(result.out))
    # adapt needs a model that hears something: the debug model with its blank made unlikely
    checkpoint = torch.load(run / "checkpoints/best.ckpt", weights_only=True)
    checkpoint["state_dict"]["model.head.project.bias"][0] -= 10.0
    torch.save(checkpoint, tmp_path / "eager.ckpt")
    result = cli("adapt", tmp_path / "eager.ckpt", *wavs, "--out", tmp_path / "adapted.ckpt", "--rounds", "1",
                 "--epochs", "1", "--lexicon", "none", "--beam", "1", "--warp", "none")
    assert result.code == 0 and (tmp_path / "adapted.ckpt").is_file(), result.err
    lines = result.out.splitlines()  # the result line alone: the progress bars are on stderr
    assert len(lines) == 1 and lines[0].startswith(f"wrote {tmp_path / 'adapted.ckpt'}: 1 round(s) over 3 recordings")
    assert "Epoch 0" in result.err
    result = cli("ensemble", run, tmp_path / "adapted.ckpt", "--out", tmp_path / "both.ckpt")
    assert result.code == 0 and result.out.strip().endswith("an ensemble of 2 my_digits models"), result.err
    assert cli("transcribe", tmp_path / "both.ckpt", wavs[0], "--beam", "4").code == 0
    result = cli("export", run, tmp_path / "asr.onnx")
    assert result.code == 0 and (tmp_path / "asr.onnx").is_file(), result.err


def test_a_renamed_word_classifier_transcribes_evaluates_ensembles_and_exports(cli, tmp_path, data_root):
    _, run = trained_copy(cli, "kws", tmp_path)
    wavs = [data_root / f"fsdd/recordings/{name}.wav" for name in WAVS]
    result = cli("transcribe", run, *wavs, "--json")
    assert result.code == 0 and all("probability" in json.loads(line) for line in result.out.splitlines())
    result = cli("eval", run)
    assert result.code == 0 and set(json.loads(result.out)) == {"accuracy"}
    assert cli("ensemble", run, run, "--out", tmp_path / "twice.ckpt").code == 0
    result = cli("adapt", run, *wavs, "--out", tmp_path / "adapted.ckpt")  # adapt is for recognisers only
    assert result.code == 2 and "word classifier (classify head); adapt fine-tunes a speech recogniser" in result.err
    result = cli("export", run, tmp_path / "kws.pt")
    assert result.code == 0 and (tmp_path / "kws.pt").is_file(), result.err


def test_a_renamed_forecaster_evaluates_predicts_and_exports(cli, tmp_path, etth1):
    _, run = trained_copy(cli, "ltsf", tmp_path)
    result = cli("eval", run)
    assert result.code == 0 and {"mse", "mae"} <= set(json.loads(result.out))
    result = cli("predict", run, "--csv", etth1, "--out", tmp_path / "next.csv")
    assert result.code == 0 and len((tmp_path / "next.csv").read_text().splitlines()) == 1 + 96, result.err
    result = cli("transcribe", run, etth1)  # a forecaster is no speech model, whatever its recipe is called
    assert result.code == 2 and "is a forecaster (forecast head), not a speech model" in result.err
    result = cli("export", run, tmp_path / "ltsf.onnx")
    assert result.code == 0 and (tmp_path / "ltsf.onnx").is_file(), result.err


def test_a_renamed_language_model_evaluates_generates_and_exports(cli, tmp_path):
    _, run = trained_copy(cli, "lm", tmp_path)
    result = cli("eval", run)
    assert result.code == 0 and {"loss", "perplexity", "bpc"} <= set(json.loads(result.out)["val"])
    result = cli("generate", run, "--prompt", "ROMEO:", "--length", "20", "--seed", "1")
    assert result.code == 0 and result.out.startswith("ROMEO:") and len(result.out) > 20
    result = cli("export", run, tmp_path / "lm.onnx")
    assert result.code == 0 and (tmp_path / "lm.onnx").is_file(), result.err
