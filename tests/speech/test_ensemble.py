"""`seqkit ensemble`: one checkpoint averaging its members, used by transcribe, eval and adapt."""

from __future__ import annotations

import json

import torch

import seqkit as sk
from seqkit.data.audio import pad_waves

from helpers import run_cli


def test_an_ensemble_is_one_checkpoint_averaging_its_members(asr_run, eager_checkpoint, data_root, tmp_path):
    from seqkit.checkpoint import load_model
    from seqkit.data.audio import read_audio

    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2", "0_jackson_4")]
    out = tmp_path / "both.ckpt"
    code, text, err = run_cli("ensemble", asr_run, eager_checkpoint, "--out", out)
    assert code == 0 and text.strip() == f"wrote {out}: an ensemble of 2 digits models", err
    ensemble, info = load_model(out)
    assert isinstance(ensemble, sk.Ensemble) and len(info["members"]) == 2 and not ensemble.training
    # Per frame: the mean of the members' log-probabilities, renormalised, on real recordings.
    inputs, lengths = pad_waves([torch.from_numpy(read_audio(w)) for w in wavs])
    with torch.no_grad():
        combined, out_lengths = ensemble(inputs, lengths)
        alone = [load_model(c)[0](inputs, lengths) for c in (asr_run, eager_checkpoint)]
    assert all(torch.equal(n, out_lengths) for _, n in alone)
    expected = (alone[0][0] + alone[1][0]).div(2).log_softmax(-1)
    assert torch.allclose(combined, expected, atol=1e-5)
    assert not torch.allclose(combined, alone[0][0], atol=1e-2) and not torch.allclose(combined, alone[1][0], atol=1e-2)
    # transcribe and eval take it as any checkpoint; the beam search runs on the combined frames.
    code, text, err = run_cli("transcribe", out, *wavs, "--beam", "4", "--json")
    assert code == 0 and [json.loads(line)["file"] for line in text.splitlines()] == [str(w) for w in wavs], err
    code, text, err = run_cli("eval", out)
    assert code == 0 and 0 <= json.loads(text)["wer_beam"], err
    # An ensemble among the checkpoints gives its members.
    code, text, err = run_cli("ensemble", out, asr_run, "--out", tmp_path / "three.ckpt")
    assert code == 0 and len(load_model(tmp_path / "three.ckpt")[1]["members"]) == 3, err
    # Refusals, in one line, before anything is written; an existing --out is never replaced.
    before = out.read_bytes()
    checkpoint = torch.load(eager_checkpoint, weights_only=True)
    checkpoint["seqkit"]["tokenizer"] = {**checkpoint["seqkit"]["tokenizer"], "chars": " abc"}
    torch.save(checkpoint, tmp_path / "other_units.ckpt")
    for args, message in [((asr_run, "--out", out), "an ensemble needs two or more checkpoints, got 1"),
                          ((asr_run, asr_run, "--out", out), f"{out} exists: give seqkit ensemble a new --out"),
                          ((asr_run, tmp_path / "other_units.ckpt", "--out", tmp_path / "x.ckpt"),
                           f"{tmp_path / 'other_units.ckpt'}: its units (data.units and the training transcripts' "
                           f"alphabet or pieces) differ from {asr_run}'s")]:
        code, text, err = run_cli("ensemble", *args)
        assert code == 2 and message in err, (args, err)
    assert out.read_bytes() == before and not (tmp_path / "x.ckpt").exists()
    code, text, err = run_cli("transcribe", out, wavs[0], "--warp", "1.0")
    assert code == 2 and "an ensemble's members keep the warps they were saved with" in err
    code, text, err = run_cli("export", out, tmp_path / "both.onnx")
    assert code == 2 and "an ensemble checkpoint is exported member by member" in err


def test_adapting_an_ensemble_fine_tunes_every_member_on_its_transcripts(eager_checkpoint, data_root, tmp_path):
    from seqkit.checkpoint import load_model

    wavs = [data_root / f"fsdd/recordings/{d}_lucas_{i}.wav" for d in (3, 7, 0) for i in (1, 2)]
    pair, adapted = tmp_path / "pair.ckpt", tmp_path / "adapted.ckpt"
    sk.save_ensemble([eager_checkpoint, eager_checkpoint], pair)
    code, text, err = run_cli("adapt", pair, *wavs, "--out", adapted, "--rounds", "1", "--epochs", "1",
                              "--lexicon", "none", "--beam", "1")
    assert code == 0, err
    assert f"wrote {adapted}: 1 round(s) over 6 recordings, 4 fine-tuned on in the last, warp None" in text
    before, _ = load_model(pair)
    after, info = load_model(adapted)
    assert isinstance(after, sk.Ensemble) and info["adapted"]["warp"] is None  # an ensemble is not warped
    states = [m.state_dict() for m in after.members]
    assert all(any(not v.equal(before.members[0].state_dict()[k]) for k, v in s.items()) for s in states)
    assert any(not v.equal(states[1][k]) for k, v in states[0].items())  # each its own batch order
    code, text, err = run_cli("adapt", pair, *wavs, "--out", tmp_path / "warped.ckpt", "--warp", "0.9")
    assert code == 2 and "an ensemble's members keep the warps" in err
