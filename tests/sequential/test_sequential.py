"""The Keras-style API: define, compile, fit, evaluate, predict, save and load, on the three
tasks' real data, a few steps each."""

from __future__ import annotations

import pytest
import torch

import seqkit as sk
from seqkit import layers
from seqkit.errors import SeqkitError

QUICK = {"limit_train_batches": 3, "limit_val_batches": 2, "enable_progress_bar": False}


def test_forecasting_from_plain_tensors_with_validation_and_a_round_trip(data_root, tmp_path):
    data = sk.SeriesData(data_root / "ETT-small/ETTh1.csv", seq_len=96, pred_len=24)
    train = data.splits["train"].__getitems__(list(range(0, 2000, 10)))
    val = data.splits["val"].__getitems__(list(range(0, 600, 10)))
    model = sk.Sequential([layers.Segmenter(seg_len=24, dim=32), layers.GRU(hidden=32), layers.Forecast()])
    model.compile(optimizer="adam", lr=3e-3)
    history = model.fit((train["inputs"], train["targets"]), validation_data=(val["inputs"], val["targets"]),
                        epochs=3, batch_size=32, enable_progress_bar=False)
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3]
    losses = history.history["val/loss"]
    assert len(losses) == 3 and all(loss > 0 for loss in losses) and losses[-1] < losses[0]
    scores = model.evaluate((val["inputs"], val["targets"]))
    assert set(scores) == {"mse", "mae"} and scores["mse"] < 1.5
    path = model.save(tmp_path / "m.ckpt")
    again = sk.Sequential.load(path)
    assert torch.equal(again.predict(val["inputs"][:4]), model.predict(val["inputs"][:4]))
    restored, info = sk.load_model(path)  # the same checkpoint format as the recipes'
    assert torch.equal(restored(val["inputs"][:4])[0], model.predict(val["inputs"][:4]))


def test_speech_recognition_from_a_data_module(data_root, tmp_path):
    data = sk.SpeechData(data_root / "fsdd/recordings", batch_size=8, train_utterances=24, eval_utterances=16)
    model = sk.Sequential([layers.ConvSpectrogram(n_mels=40, filters=8, dim=32),
                           layers.GRU(hidden=32, layers=2, bidirectional=True), layers.CTC(beam=2)])
    model.compile(optimizer="adamw", lr=1e-3)
    history = model.fit(data, epochs=1, **QUICK)
    assert len(history.epochs) == 1 and "val/loss" in history.epochs[0]
    scores = model.evaluate(data)
    assert set(scores) == {"wer", "cer", "wer_beam", "cer_beam"}
    batch = next(iter(data.test_dataloader()))
    log_probs = model.predict(batch)
    assert log_probs.shape[0] == 8 and log_probs.shape[-1] == data.tokenizer.vocab_size + 1
    again = sk.Sequential.load(model.save(tmp_path / "asr.ckpt"))
    assert torch.equal(again.predict(batch), log_probs)
    assert again.info["tokenizer"] == data.tokenizer.to_data()  # the tokenizer travels too


def test_language_model_from_a_data_module(data_root, tmp_path):
    data = sk.TextData(data_root / "tinyshakespeare/input.txt", batch_size=8, bptt=32)
    model = sk.Sequential([layers.Embedding(dim=32), layers.LSTM(hidden=32, stateful=True), layers.Softmax()])
    model.compile(optimizer="adamw", lr=3e-3)
    history = model.fit(data, epochs=1, **QUICK)
    assert history.epochs[0]["train/loss"] < 4.5
    scores = model.evaluate(data)
    assert set(scores) == {"loss", "bpc", "perplexity"}
    again = sk.Sequential.load(model.save(tmp_path / "lm.ckpt"))
    text = "".join(sk.generate(again.model, data.tokenizer, "ROMEO:", 20, temperature=0.0))
    assert text == "".join(sk.generate(model.model, data.tokenizer, "ROMEO:", 20, temperature=0.0))


def test_mistakes_are_one_line_errors():
    with pytest.raises(SeqkitError, match="a front-end, a back-end and a head, in that order"):
        sk.Sequential([layers.GRU(hidden=8), layers.Segmenter(), layers.Forecast()])
    with pytest.raises(SeqkitError, match="no backend takes 'hiden'"):
        layers.GRU(hiden=8)
    model = sk.Sequential([layers.Segmenter(), layers.GRU(), layers.Forecast()])
    with pytest.raises(SeqkitError, match="not built yet"):
        model.predict(torch.zeros(1, 96, 3))
    with pytest.raises(SeqkitError, match="a data module, a DataLoader or a tuple"):
        model.fit([1, 2, 3])


def test_classification_from_tensors_of_real_recordings(data_root):
    from seqkit.data.fsdd import DIGITS, read_fsdd

    recordings = [r for r in read_fsdd(data_root / "fsdd/recordings") if r.index < 2]  # every digit and speaker
    inputs = torch.zeros(len(recordings), 6000, 1)
    for k, r in enumerate(recordings):
        clip = torch.from_numpy(r.audio[:6000])
        inputs[k, : len(clip), 0] = clip
    labels = torch.tensor([r.digit for r in recordings])
    model = sk.Sequential([layers.ConvSpectrogram(filters=4, dim=16), layers.GRU(hidden=16), layers.Classify()])
    model.compile(optimizer="adamw", lr=1e-3)
    history = model.fit((inputs, labels), epochs=1, batch_size=16, enable_progress_bar=False)
    assert len(history.epochs) == 1 and model.dims["vocab_size"] == len(DIGITS)
    scores = model.evaluate((inputs, labels))
    assert set(scores) == {"accuracy"} and 0.0 <= scores["accuracy"] <= 1.0
    assert model.predict(inputs[:5]).shape == (5, 10)
