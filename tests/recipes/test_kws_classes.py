"""recipes/kws on a class folder (Speech Commands' layout) built from real FSDD recordings at 16 kHz:
a debug run, then transcribe and eval on its checkpoint."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import soundfile as sf
import torch

from seqkit.data.audio import read_audio
from seqkit.data.fsdd import DIGITS

from helpers import ROOT, run_cli

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")


def speech_commands(folder, fsdd) -> list[str]:
    """Four digit-word classes and ``_unknown_`` (the other digits), 16 kHz clips named
    ``<word>/<id>_nohash_<n>.wav`` (one id per two takes of an FSDD speaker: 20 speakers), and a
    ``_background_noise_`` folder; returns the classes."""
    for d in range(10):
        word, takes = (DIGITS[d], 8) if d < 4 else ("_unknown_", 2)
        (folder / word).mkdir(parents=True, exist_ok=True)
        for s in SPEAKERS:
            for i in range(takes):
                speaker = hashlib.sha1(f"{s}-{i // 2}".encode()).hexdigest()[:8]
                n = i % 2 if d < 4 else 2 * (d - 4) + i  # the unknown words' takes numbered on
                sf.write(folder / word / f"{speaker}_nohash_{n}.wav", read_audio(fsdd / f"{d}_{s}_{i}.wav", 16000),
                         16000, subtype="PCM_16")
    (folder / "_background_noise_").mkdir()
    sf.write(folder / "_background_noise_/noise.wav", np.random.default_rng(0).normal(0, 0.1, 32000), 16000)
    return sorted(["_unknown_", *DIGITS[:4]])


def test_kws_trains_on_a_class_folder_then_transcribe_and_eval_work(tmp_path, data_root):
    labels = speech_commands(tmp_path / "sc", data_root / "fsdd/recordings")
    run = tmp_path / "run"
    code, out, err = run_cli("run", ROOT / "recipes/kws", "-c", ROOT / "configs/debug.yaml",
                             f"data.path={tmp_path / 'sc'}", "data.sample_rate=16000", f"run_dir={run}")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["confusion"]["labels"] == labels and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert np.array(metrics["confusion"]["matrix"]).shape == (5, 5)
    checkpoint = torch.load(run / "checkpoints/best.ckpt", weights_only=True)
    assert checkpoint["seqkit"]["tokenizer"]["words"] == labels and checkpoint["seqkit"]["sample_rate"] == 16000
    clips = [tmp_path / "sc/two" / sorted(p.name for p in (tmp_path / "sc/two").iterdir())[0],
             data_root / "fsdd/recordings/1_lucas_30.wav"]  # and an 8 kHz file: resampled to the model's rate
    code, out, err = run_cli("transcribe", run / "checkpoints/best.ckpt", *clips, "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and all(line["text"] in labels and 0 < line["probability"] <= 1 for line in lines)
    code, out, err = run_cli("eval", run)
    assert code == 0 and set(json.loads(out)) == {"accuracy"}, err
