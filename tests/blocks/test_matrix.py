"""The composition matrix: every front-end with every back-end and every head that fits the task
builds and takes a training step on real data; pairs that cannot work fail with a one-line reason."""

from __future__ import annotations

import pytest
import torch

import seqkit as sk
from seqkit.blocks import BACKENDS, FRONTENDS, HEADS
from seqkit.errors import SeqkitError
from seqkit.model import build_model

# The data each front-end reads, and the heads of the tasks on that data.
READS = {"segmenter": "series", "conv_spectrogram": "audio", "embedding": "text"}
HEADS_FOR = {"series": ["forecast"], "audio": ["ctc", "classify"], "text": ["softmax", "adaptive_softmax"]}
FRONTEND_SPECS = {"segmenter": {"seg_len": 24, "dim": 16},
                  "conv_spectrogram": {"n_mels": 40, "filters": 4, "dim": 16},
                  "embedding": {"dim": 16}}
# Pairs that cannot work, and the reason their build gives.
INVALID = {("embedding", "segrnn", "softmax"): "the softmax head predicts the next token at every step",
           ("embedding", "segrnn", "adaptive_softmax"): "the adaptive_softmax head predicts the next token"}


@pytest.fixture(scope="module")
def batches(data_root):
    series = sk.SeriesData(data_root / "ETT-small/ETTh1.csv", seq_len=96, pred_len=24, batch_size=4)
    speech = sk.SpeechData(data_root / "fsdd/recordings", batch_size=4, train_utterances=8, eval_utterances=8,
                           max_digits=2)
    words = sk.SpeechData(data_root / "fsdd/recordings", digits="isolated", units="words", batch_size=4)
    text = sk.TextData(data_root / "tinyshakespeare/input.txt", batch_size=4, bptt=16)
    return {
        "series": (series.dims, series.splits["train"].__getitems__([0, 100, 200, 300])),
        "audio": (speech.dims, next(iter(speech.train_dataloader()))),
        "words": (words.dims, next(iter(words.train_dataloader()))),
        "text": (text.dims, text.streams["train"][0]),
    }


def combinations():
    for frontend, data in READS.items():
        for backend in BACKENDS:
            for head in HEADS_FOR[data]:
                yield frontend, backend, head


@pytest.mark.parametrize("frontend, backend, head", list(combinations()))
def test_every_fitting_combination_trains(batches, frontend, backend, head):
    data = READS[frontend]
    dims, batch = batches["words" if head == "classify" else data]
    spec = {"frontend": {"name": frontend, **FRONTEND_SPECS[frontend]},
            "backend": {"name": backend, "hidden": 12},
            "head": {"name": head}}
    if (frontend, backend, head) in INVALID:
        with pytest.raises(SeqkitError, match=INVALID[frontend, backend, head]):
            build_model(spec, **dims)
        return
    torch.manual_seed(0)
    model = build_model(spec, **dims)
    outputs, lengths = model(batch["inputs"], batch.get("input_lengths"))
    loss = model.head.loss(outputs, lengths, batch)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    torch.optim.Adam(model.parameters(), lr=1e-3).step()


def test_the_matrix_covers_every_registered_block():
    assert set(READS) == set(FRONTENDS)
    assert {h for heads in HEADS_FOR.values() for h in heads} == set(HEADS)


@pytest.mark.parametrize("frontend, head, message", [
    ("conv_spectrogram", "forecast", "the forecast head needs pred_len"),
    ("segmenter", "ctc", "the ctc head needs vocab_size"),
])
def test_a_head_that_does_not_fit_the_data_says_so(batches, frontend, head, message):
    dims, _ = batches[READS[frontend]]
    spec = {"frontend": {"name": frontend, **FRONTEND_SPECS[frontend]}, "backend": {"name": "gru"},
            "head": {"name": head}}
    with pytest.raises(SeqkitError, match=message):
        build_model(spec, **dims)


def test_segrnn_is_a_segment_wise_encoder_over_spectrogram_frames(batches):
    dims, batch = batches["audio"]
    spec = {"frontend": {"name": "conv_spectrogram", **FRONTEND_SPECS["conv_spectrogram"]},
            "backend": {"name": "segrnn", "hidden": 12, "group": 4}, "head": {"name": "ctc"}}
    model = build_model(spec, **dims)
    frames, frame_lengths = model.frontend(batch["inputs"], batch["input_lengths"])
    log_probs, lengths = model(batch["inputs"], batch["input_lengths"])
    assert log_probs.shape[1] == -(-frames.shape[1] // 4)
    assert lengths.tolist() == [-(-n // 4) for n in frame_lengths.tolist()]
