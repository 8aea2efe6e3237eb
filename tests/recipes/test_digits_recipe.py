"""The speech recipe end to end: its smoke run's files, every back-end on real speech, run and export of both views."""

from __future__ import annotations

import json

import pytest
import torch

import seqkit as sk

from helpers import ROOT, run_cli


def test_recipe_smoke_run_writes_every_file(asr_run):
    for name in ["config.yaml", "metrics.json", "train.log", "transcripts.png", "loss.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"]:
        assert (asr_run / name).is_file(), name
    metrics = json.loads((asr_run / "metrics.json").read_text())
    for split_name in ("val", "test"):
        assert set(metrics[split_name]) == {"wer", "cer", "wer_beam", "cer_beam"}
        assert set(metrics[f"{split_name}_lexicon"]) == {"wer_beam", "cer_beam"}  # the ten digit words
    checkpoint = torch.load(asr_run / "checkpoints/best.ckpt", weights_only=True)
    assert checkpoint["seqkit"]["tokenizer"]["kind"] == "chars"


@pytest.mark.parametrize("backend", ["gru", "lstm", "rnn", "segrnn"])
def test_any_backend_by_one_word_trains_on_real_speech(backend, data_root):
    torch.manual_seed(0)
    cfg = sk.load_config(ROOT / "recipes/digits", overrides=[f"model.backend.name={backend}", "model.backend.hidden=16",
                                                          "model.frontend.filters=4", "model.frontend.dim=16"])
    data = sk.SpeechData(**{**cfg.data, "train_utterances": 8, "batch_size": 8})
    model = sk.build_model(cfg.model, **data.dims)
    batch = next(iter(data.train_dataloader()))
    loss = model.head.loss(*model(batch["inputs"], batch["input_lengths"]), batch)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert all(p.grad is not None for p in model.parameters())


def test_both_views_and_random_filter_through_the_recipe_and_export(tmp_path, data_root):
    run_dir = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/digits", "-c", ROOT / "configs/debug.yaml",
                                 "data.train_utterances=48", "data.eval_utterances=16", "model.frontend.norm=both",
                                 "model.frontend.filter_db=6", f"run_dir={run_dir}")
        assert code == 0, err
        assert (run_dir / "transcripts.png").is_file()
        code, out, err = run_cli("export", run_dir, tmp_path / "model.onnx", "--format", "onnx")
    assert code == 0, err
    assert (tmp_path / "model.onnx").is_file()
