"""The word-timing and long-audio tests' model and audio: a small recogniser of connected FSDD digits
(one unit per digit word) that decodes well enough to be timed, and FSDD test recordings joined."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import ROOT, run_cli

# The smallest settings measured to hear connected digits and place them in time (25 s of
# training on 2 idle cores; 2-6 times that when others share them): one unit per digit word, 1-4
# digits an utterance, no augmentation but white noise at a floor of NOISE. Without that floor the
# pauses of the training utterances are digital zeros, and the bidirectional GRU learns to put a
# word's spike at the start of the pause before it: after a longer silence than it was trained on,
# the word is timed a second early.
NOISE = 0.003
DIGITS_RUN = ["data.units=words", "data.max_digits=4", f"data.noise={NOISE}", "data.train_utterances=1500",
              "data.eval_utterances=32", "data.batch_size=32", "data.speed_perturb=0", "train.lr=5e-3",
              "trainer.max_epochs=8", "trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0",
              "trainer.limit_test_batches=1.0", "trainer.checkpoint_every_n_steps=0",
              "trainer.enable_progress_bar=false", "model.frontend.dim=128", "model.frontend.filters=16",
              "model.frontend.freq_masks=0", "model.frontend.time_masks=0", "model.frontend.dropout=0",
              "model.backend.hidden=128", "model.backend.layers=1", "model.backend.dropout=0", "model.head.dropout=0",
              "model.head.beam=2"]  # a narrow beam: the recipe's validation and test passes are quick
RATE = 8000  # FSDD's, and the model's


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, data_root) -> Path:
    """A run of recipes/digits that hears connected digits (its metrics.json has fit_seconds)."""
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/digits", "-c", ROOT / "configs/debug.yaml", *DIGITS_RUN,
                               f"run_dir={run_dir}")
    assert code == 0, err
    assert json.loads((run_dir / "metrics.json").read_text())["val"]["wer"] < 0.2  # it hears digits
    return run_dir


@pytest.fixture(scope="session")
def test_recordings(data_root) -> list[Path]:
    """FSDD's test recordings (index 0-4, never trained on) in a fixed shuffled order."""
    paths = sorted((data_root / "fsdd/recordings").glob("*_[0-4].wav"))
    random.Random(0).shuffle(paths)
    return paths


def spoken(path: Path) -> str:
    """The digit word an FSDD recording says, from its name."""
    from seqkit.data.fsdd import DIGITS

    return DIGITS[int(Path(path).name.split("_")[0])]


def join(parts: list, gaps: list[float], seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Recordings (paths or arrays at `RATE`) joined, each followed by its gap of silence (seconds),
    under white noise at the training's floor (`NOISE`, about -50 dB): the audio and where each part
    is in it (start, end seconds)."""
    pieces, spans, at = [], [], 0
    for part, gap in zip(parts, gaps):
        audio = sf.read(part, dtype="float32")[0] if isinstance(part, Path) else part
        pieces += [audio, np.zeros(round(gap * RATE), np.float32)]
        spans.append((at / RATE, (at + len(audio)) / RATE))
        at += len(audio) + len(pieces[-1])
    audio = np.concatenate(pieces)
    return (audio + np.random.default_rng(seed).normal(0, NOISE, len(audio))).astype(np.float32), spans


@pytest.fixture(scope="session")
def join_audio():
    """`join`, for the tests (a conftest's functions are not imported by name)."""
    return join


@pytest.fixture(scope="session")
def spoken_word():
    """`spoken`, for the tests."""
    return spoken
