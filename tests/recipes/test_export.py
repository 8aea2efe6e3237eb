"""`seqkit export`: every recipe's debug checkpoint to ONNX and TorchScript, verified on real data,
and the ways it refuses (bad format, existing file, not a checkpoint, failed verification)."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

import seqkit as sk
from seqkit import export as export_module
from seqkit.export.plans import TokenStep

from helpers import ROOT

SMALL = {  # debug runs of each recipe, small enough to train and export in seconds
    "ltsf": ["data.seq_len=96", "model.frontend.dim=32", "model.backend.hidden=32"],
    "digits": ["data.train_utterances=32", "data.eval_utterances=16", "model.frontend.filters=8",
               "model.frontend.dim=32", "model.backend.hidden=32"],
    "asr": ["model.frontend.n_mels=40", "model.frontend.filters=4", "model.frontend.dim=16", "model.backend.hidden=16",
            "model.backend.layers=1", "data.max_seconds=24", "data.speed_perturb=[1.0]", "decode.lexicon=none"],
    "kws": ["model.frontend.filters=8", "model.frontend.dim=32", "model.backend.hidden=32"],
    "lm": ["model.frontend.dim=32", "model.backend.hidden=32", "sample.length=10"],
}
DIFFERENCE = re.compile(r"max abs difference (\S+) ")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root) -> dict:
    """One debug run of each recipe (`-c configs/debug.yaml`), shared by the tests below."""
    folder = tmp_path_factory.mktemp("export_runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        for recipe, overrides in SMALL.items():
            sk.run_recipe(ROOT / "recipes" / recipe, [f"run_dir={folder / recipe}", "trainer.limit_train_batches=1",
                                                      "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                                                      *overrides],
                          [ROOT / "configs/debug.yaml"])
    return {recipe: folder / recipe for recipe in SMALL}


@pytest.mark.parametrize("recipe", list(SMALL))
@pytest.mark.parametrize("format, suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
def test_every_recipe_exports_and_verifies_on_real_data(runs, cli, tmp_path, recipe, format, suffix):
    out = tmp_path / f"{recipe}{suffix}"
    result = cli("export", runs[recipe], out, "--format", format)
    assert result.code == 0, result.err
    assert float(DIFFERENCE.search(result.out).group(1)) <= 1e-4
    assert "left outside the graph" in result.out and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind
    if format == "onnx":
        model = onnx.load(out)
        first = model.graph.input[0].type.tensor_type.shape.dim
        assert first[0].dim_param == "batch"  # a dynamic batch axis
        metadata = json.loads({p.key: p.value for p in model.metadata_props}["seqkit"])
    else:
        extra = {"seqkit.json": ""}
        torch.jit.load(str(out), _extra_files=extra)
        metadata = json.loads(extra["seqkit.json"])
    assert metadata["outside"] and metadata["inputs"]
    if recipe == "ltsf":
        assert len(metadata["scaler"]["mean"]) == len(metadata["columns"]) == 7
    else:
        assert metadata["units"]


def test_a_users_own_recording_and_csv(runs, cli, tmp_path, data_root, etth1):
    audio, rate = sf.read(data_root / "fsdd/recordings/3_lucas_1.wav", dtype="float32")
    wav = tmp_path / "mine_stereo.wav"
    sf.write(wav, np.stack([audio, 0.5 * audio], axis=1), rate)
    result = cli("export", runs["digits"], tmp_path / "asr.pt", "--input", wav)
    assert result.code == 0, result.err
    assert "mine_stereo.wav and its first 60%" in result.out
    csv = tmp_path / "recent.csv"
    csv.write_text("".join(etth1.read_text().splitlines(keepends=True)[:500]))
    result = cli("export", runs["ltsf"], tmp_path / "ltsf.pt", "--input", csv)
    assert result.code == 0, result.err
    assert "window(s) of recent.csv" in result.out


def test_language_model_step_carries_the_state_like_one_long_call(runs):
    model, _ = sk.load_model(runs["lm"])
    stateful = model.backend.stateful
    step = TokenStep(model)
    tokens = torch.randint(0, model.head.out_dim, (2, 30))
    layers, hidden = len(model.backend.forward_layers), model.backend.out_dim
    zeros = (torch.zeros(layers, 2, hidden), torch.zeros(layers, 2, hidden))
    with torch.no_grad():
        whole = step(tokens, *zeros)[0]
        first, h, c = step(tokens[:, :12], *zeros)
        second = step(tokens[:, 12:], h, c)[0]
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)
    assert model.backend.state is None and model.backend.stateful == stateful  # the model is left as it was


def test_refusals_are_one_line_and_keep_existing_files(runs, cli, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_text("mine\n")
    result = cli("export", runs["lm"], out)
    assert result.code == 2 and "already exists; pass --force" in result.err and out.read_text() == "mine\n"
    for args, message in [
        ((runs["lm"], tmp_path / "m.tflite"), "cannot tell the format from 'm.tflite'"),
        ((runs["lm"], tmp_path / "m.bin", "--format", "tflite"), "unknown export format 'tflite'"),
        ((tmp_path / "missing.ckpt", tmp_path / "m.pt"), "missing.ckpt not found"),
        ((runs["lm"] / "config.yaml", tmp_path / "m.pt"), "config.yaml: not a"),
    ]:
        result = cli("export", *args)
        assert result.code == 2 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_failed_verification_leaves_nothing_behind(runs, cli, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no file can pass
    out = tmp_path / "model.pt"
    out.write_text("mine\n")
    result = cli("export", runs["lm"], out, "--force")
    assert result.code == 2 and "failed verification: max abs difference" in result.err
    assert out.read_text() == "mine\n" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
