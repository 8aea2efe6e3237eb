"""Self-training on a new voice and `seqkit adapt`: fine-tuning a model on its own transcripts."""

from __future__ import annotations

import pytest
import torch

from seqkit.errors import SeqkitError

from helpers import run_cli


def test_self_training_fits_the_model_to_its_own_transcripts_of_a_new_voice(eager_checkpoint, data_root):
    from seqkit.checkpoint import load_model
    from seqkit.data.audio import batched, read_audio, speech_batch
    from seqkit.data.tokenizers import tokenizer_from_data
    from seqkit.speech.adapt import confident_transcripts, self_train

    waves = [read_audio(data_root / f"fsdd/recordings/{d}_lucas_{i}.wav") for d in (3, 7, 0) for i in (1, 2)]
    model, info = load_model(eager_checkpoint)
    tokenizer = tokenizer_from_data(info["tokenizer"])
    texts, _ = confident_transcripts(model, tokenizer, batched(waves), len(waves), 1)
    assert all(texts), texts
    batch = speech_batch(waves, texts, tokenizer)

    def loss() -> float:  # of the model's first transcripts, without augmentation
        model.eval()
        with torch.no_grad():
            return float(model.head.loss(*model(batch["inputs"], batch["input_lengths"]), batch))

    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = loss()
    report = self_train(model, tokenizer, waves, {"accelerator": "cpu"}, rounds=1, epochs=5, keep=1.0, lr=1e-3,
                        beam=1, warp=None, progress=False)
    assert report["utterances"] == 6 and report["rounds"][0]["kept"] == 6 and report["warp"] == 1.0
    assert loss() < 0.8 * first  # fine-tuned towards its own transcripts of these recordings
    assert not model.training and any(not v.equal(before[k]) for k, v in model.state_dict().items())
    with pytest.raises(SeqkitError, match="adapt needs rounds >= 1, epochs >= 1, 0 < keep <= 1"):
        self_train(model, tokenizer, waves, {}, keep=0.0)


def test_adapt_writes_a_new_checkpoint_that_transcribe_uses(eager_checkpoint, asr_run, data_root, tmp_path):
    from seqkit.checkpoint import load_model

    wavs = [data_root / f"fsdd/recordings/{d}_lucas_{i}.wav" for d in (3, 7, 0) for i in (1, 2)]
    out = tmp_path / "lucas.ckpt"
    code, text, err = run_cli("adapt", eager_checkpoint, *wavs, "--out", out, "--rounds", "2", "--epochs", "1",
                              "--lexicon", "none", "--beam", "1")
    assert code == 0, err
    assert f"wrote {out}: 2 round(s) over 6 recordings" in text  # after the progress bars
    model, info = load_model(out)
    assert info["adapted"]["utterances"] == 6 and len(info["adapted"]["rounds"]) == 2
    assert info["warp"] in (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2) and model.frontend.warp == info["warp"]
    code, text, err = run_cli("transcribe", out, *wavs[:2], "--json")
    assert code == 0 and len(text.splitlines()) == 2, err
    # An existing --out is never replaced; an unreadable file or a model that hears nothing stops
    # the work before anything is written.
    before = out.read_bytes()
    code, text, err = run_cli("adapt", eager_checkpoint, *wavs, "--out", out, "--lexicon", "none", "--beam", "1")
    assert code == 2 and f"{out} exists: give adapt a new --out (nothing was overwritten)" in err
    assert out.read_bytes() == before
    (tmp_path / "empty.wav").write_bytes(b"")
    code, text, err = run_cli("adapt", eager_checkpoint, wavs[0], tmp_path / "empty.wav", "--out", tmp_path / "x.ckpt")
    assert code == 2 and f"1 of 2 files cannot be read, first {tmp_path / 'empty.wav'}: empty file" in err
    code, text, err = run_cli("adapt", asr_run, *wavs, "--out", tmp_path / "y.ckpt", "--rounds", "1")
    assert code == 2 and "transcribed none of the utterances as any word" in err
    assert not (tmp_path / "x.ckpt").exists() and not (tmp_path / "y.ckpt").exists()
