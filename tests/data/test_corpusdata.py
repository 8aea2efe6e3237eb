"""CorpusData on real AN4 audio: normalised transcripts, units from the training split only,
speed-perturbed copies, batches within their seconds budget, and the one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest

from seqkit.data.audio import read_audio, speed_perturb
from seqkit.data.buckets import DurationBatches
from seqkit.data.corpusdata import CorpusData
from seqkit.errors import SeqkitError

from helpers import one_line


def corpus(manifests, **settings) -> CorpusData:
    train, test, _ = manifests
    return CorpusData(None, train=str(train), test=str(test), dev_split={"first": 3}, **settings)


def test_transcripts_are_normalised_and_units_come_from_training_only(manifests, tmp_path):
    train, test, _ = manifests
    rows = test.read_text().splitlines()
    test.write_text("\n".join(rows[:-1] + [rows[-1].replace('"text": "', '"text": "Zürich, ')]) + "\n")
    data = corpus(manifests, case="lower", punctuation="strip")
    assert all(text == text.lower() and "," not in text for part in data.texts.values() for text in part)
    assert data.texts["test"][-1].startswith("zürich ")
    assert "ü" not in data.tokenizer.chars  # fitted on the training transcripts
    assert set(data.tokenizer.chars) == set("".join(data.texts["train"]))
    batches = list(data.test_dataloader())
    last = [b for b in batches if any(t.startswith("zürich") for t in b["texts"])][0]
    row = [t.startswith("zürich") for t in last["texts"]].index(True)
    target = data.tokenizer.decode(last["targets"][row, : last["target_lengths"][row]].tolist())
    assert last["texts"][row].startswith("zürich") and target.startswith("zrich ")  # scored whole, trained without


def test_speed_perturbed_copies_and_batches_within_budget(manifests):
    data = corpus(manifests, speed_perturb=[0.9, 1.0, 1.1], max_seconds=12.0, cache=True)
    train = data.splits["train"]
    assert len(train) == 3 * len(data.utterances["train"])
    plain = read_audio(data.utterances["train"][0].audio, 16000)
    slow, _ = train[0]  # factor 0.9: 1/0.9 as long
    assert abs(len(slow) - len(plain) / 0.9) <= 1 and abs(train.seconds[0] * 0.9 - len(plain) / 16000) < 1e-3
    seen = []
    for batch in data.train_dataloader():
        longest = int(batch["input_lengths"].max()) / 16000
        assert longest * len(batch["texts"]) <= 12.0 + 1e-6
        seen += batch["texts"]
    assert sorted(seen) == sorted(text for _, text, _ in train.items)  # every utterance once per epoch
    cached, _ = train[0]  # read again from the 16-bit copy: the same as the first read (a resumed run hears it)
    assert np.array_equal(cached, slow) and np.abs(cached - speed_perturb(plain, 0.9)).max() < 1e-4


def test_duration_batches_are_the_same_for_a_seed_and_epoch_and_differ_between_epochs():
    durations = np.random.default_rng(0).uniform(0.5, 8.0, 300)
    first, again = DurationBatches(durations, 30.0, seed=3), DurationBatches(durations, 30.0, seed=3)
    assert first.batches() == again.batches()
    again.set_epoch(1)
    assert first.batches() != again.batches()
    for sampler in (first, again):
        batches = sampler.batches()
        assert sorted(i for b in batches for i in b) == list(range(300))
        assert all(max(durations[b]) * len(b) <= 30.0 for b in batches)
    assert all(len(b) <= 4 for b in DurationBatches(durations, 30.0, max_count=4).batches())


def test_unreadable_and_empty_audio_are_counted_before_training(manifests, tmp_path):
    train, test, _ = manifests
    (tmp_path / "empty.wav").touch()
    (tmp_path / "noise.wav").write_bytes(b"not audio at all" * 64)
    train.write_text(train.read_text() + "empty.wav\tYES\tx\nnoise.wav\tNO\tx\n")
    with pytest.raises(SeqkitError) as err:
        corpus(manifests)
    one_line(err.value, "2 audio file(s) cannot be read", "empty.wav", "noise.wav")


@pytest.mark.parametrize("settings, names", [
    ({"punctuation": "strip", "case": "upper"}, ["empty after normalisation", "'?!'"]),
    ({"max_seconds": 1.0}, ["more than the batch budget", "1 s"]),
    ({"speed_perturb": [3.0]}, ["data.speed_perturb", "3.0"]),
    ({"units": "phones"}, ["data.units", "phones"]),
    ({"case": "title"}, ["data.case", "title"]),
])
def test_bad_settings_and_transcripts_get_one_line(manifests, settings, names):
    train, _, _ = manifests
    if "punctuation" in settings:
        first = train.read_text().splitlines()[1].split("\t")
        train.write_text(train.read_text() + f"{first[0]}\t?!\tx\n")
    with pytest.raises(SeqkitError) as err:
        corpus(manifests, **settings)
    one_line(err.value, *names)
