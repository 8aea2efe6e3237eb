"""FSDD speech data: connected-digit utterances, splits, speed and noise perturbation, equalisation, units."""

from __future__ import annotations

import numpy as np
import pytest

import seqkit as sk
from seqkit.data.fsdd import DIGITS, split
from seqkit.errors import SeqkitError


def test_connected_digits_are_deterministic_and_match_their_recordings(recordings):
    parts = split(recordings)
    data = sk.data.fsdd.Utterances(parts["test"], count=50, seed=7)
    again = sk.data.fsdd.Utterances(parts["test"], count=50, seed=7)
    for i in range(50):
        audio, text, picks = data.utterance(i)
        audio2, text2, _ = again.utterance(i)
        assert text == text2 and np.array_equal(audio, audio2)
        used = [parts["test"][p] for p in picks]
        assert text == " ".join(DIGITS[r.digit] for r in used)
        assert 1 <= len(used) <= 7 and len({r.speaker for r in used}) == 1
        assert len(audio) == data.length(i) >= sum(len(r.audio) for r in used)
        start = 0  # every recording appears verbatim, in order, separated by 50-300 ms of silence
        for k, r in enumerate(used):
            assert np.array_equal(audio[start:start + len(r.audio)], r.audio)
            start += len(r.audio)
            if k < len(used) - 1:
                pause = data.plan(i)[1][k]
                assert 400 <= pause <= 2400 and not audio[start:start + pause].any()
                start += pause


def test_speed_perturbation_changes_the_audio_of_training_utterances_only(recordings, data_root):
    parts = split(recordings)
    plain = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3)
    fast = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3, speed=0.1)
    for i in range(30):
        (_, text, picks), (audio2, text2, picks2) = plain.utterance(i), fast.utterance(i)
        assert text == text2 and picks == picks2 and plain.plan(i)[1] == fast.plan(i)[1]  # same words and pauses
        factors = fast.plan(i)[2]
        assert all(0.9 <= f <= 1.1 for f in factors) and len(audio2) == fast.length(i)
        first = sk.data.audio.speed_perturb(parts["train"][picks[0]].audio, factors[0])
        assert np.array_equal(audio2[: len(first)], first)  # each recording is played at its own speed
        assert abs(len(first) - len(parts["train"][picks[0]].audio) / factors[0]) <= 1
    again = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3, speed=0.1)
    assert np.array_equal(fast.utterance(5)[0], again.utterance(5)[0])  # deterministic
    # A 500 Hz tone played 1.1 times faster is a 550 Hz tone.
    tone = np.sin(2 * np.pi * 500 * np.arange(8000) / 8000).astype(np.float32)
    faster = sk.data.audio.speed_perturb(tone, 1.1)
    peak = np.argmax(np.abs(np.fft.rfft(faster))) * 8000 / len(faster)
    assert abs(peak - 550) < 2
    data = sk.SpeechData(data_root / "fsdd/recordings", speed_perturb=0.1, train_utterances=8, eval_utterances=8)
    assert data.splits["train"].speed == 0.1 and data.splits["val"].speed == data.splits["test"].speed == 0.0
    with pytest.raises(SeqkitError, match="data.speed_perturb must be in"):
        sk.data.fsdd.Utterances(parts["train"], count=3, seed=3, speed=0.7)


def test_noise_at_a_random_snr_is_added_to_training_utterances_only(recordings, data_root):
    parts = split(recordings)
    plain = sk.data.fsdd.Utterances(parts["train"], count=20, seed=4, digits="isolated")
    noisy = sk.data.fsdd.Utterances(parts["train"], count=20, seed=4, digits="isolated", snr=(10, 30))
    for i in range(20):
        clean, dirty = plain.utterance(i)[0].astype(np.float64), noisy.utterance(i)[0].astype(np.float64)
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((dirty - clean) ** 2))
        assert 9 < snr < 31  # relative to each utterance's own level: quiet speakers get quiet noise
    assert np.array_equal(noisy.utterance(3)[0], noisy.utterance(3)[0])  # deterministic
    data = sk.SpeechData(data_root / "fsdd/recordings", noise_snr=[10, 30], train_utterances=8, eval_utterances=8)
    assert data.splits["train"].snr == (10, 30) and data.splits["val"].snr is None and data.splits["test"].snr is None
    with pytest.raises(SeqkitError, match=r"data.noise_snr must be \[low, high\]"):
        sk.data.fsdd.Utterances(parts["train"], count=3, seed=3, snr=(30, 10))


def test_equalizing_a_speaker_takes_a_microphone_colour_out(recordings):
    from dataclasses import replace

    from seqkit.data.equalize import equalize, equalize_speakers

    mine = [r for r in recordings if r.speaker == "george" and r.index < 10]
    frequency = np.linspace(0, 1, 129)  # 0 to 4 kHz
    colour = 10 ** ((9 - 15 * frequency + 4 * np.sin(3 * np.pi * frequency)) / 20)  # another microphone
    coloured = [replace(r, speaker="other", audio=equalize(r.audio, colour)) for r in mine]
    fixed, _ = equalize_speakers(mine + coloured, reference_speakers=["george"])

    def error(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    before = np.mean([error(c.audio, r.audio) for c, r in zip(coloured, mine)])
    after = np.mean([error(f.audio, r.audio) for f, r in zip(fixed[len(mine):], mine)])
    assert before > 0.5 and after < 0.15, (before, after)
    # The reference speaker's own recordings are (close to) untouched: their gain is 1 up to smoothing.
    assert np.mean([error(f.audio, r.audio) for f, r in zip(fixed[: len(mine)], mine)]) < 0.05


def test_equalized_data_gives_every_speaker_the_training_speakers_average_spectrum(data_root):
    from seqkit.data.equalize import average_spectrum

    def colours(data):  # each speaker's average spectrum against the reference, in 250 Hz bands (dB)
        found = {}
        for name in ("train", "test"):
            recordings = data.splits[name].recordings
            for speaker in sorted({r.speaker for r in recordings}):
                spectrum = average_spectrum([r.audio for r in recordings if r.speaker == speaker])
                decibels = 10 / np.log(10) * (spectrum - reference)[4:124]  # 125 Hz to 3.875 kHz
                found[speaker] = np.abs(decibels.reshape(15, 8).mean(1)).max()
        return found

    data = sk.SpeechData(data_root / "fsdd/recordings", test_speakers=["nicolas"], equalize=True,
                         train_utterances=8, eval_utterances=8)
    reference = np.asarray(data.info["equalize_reference"])
    raw = sk.SpeechData(data_root / "fsdd/recordings", test_speakers=["nicolas"], train_utterances=8,
                        eval_utterances=8)
    assert "equalize_reference" not in raw.info
    before, after = colours(raw), colours(data)
    assert sorted(after) == sorted(before) == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    for speaker in before:  # 4.8-13.6 dB off somewhere before; held-out nicolas too
        assert before[speaker] > 4.5 and after[speaker] < 3.5, (speaker, before[speaker], after[speaker])
    assert ([len(r.audio) for r in raw.splits["test"].recordings]
            == [len(r.audio) for r in data.splits["test"].recordings])


def test_splits_never_share_a_recording(recordings):
    names = {k: {(r.digit, r.speaker, r.index) for r in v} for k, v in split(recordings).items()}
    assert not names["train"] & names["test"] and not names["val"] & names["test"]
    assert not names["train"] & names["val"]
    assert all(i <= 4 for _, _, i in names["test"]) and len(names["test"]) == 250
    held = {k: {(r.digit, r.speaker, r.index) for r in v} for k, v in split(recordings, ["lucas"]).items()}
    assert {s for _, s, _ in held["test"]} == {"lucas"} and len(held["test"]) == 500
    assert "lucas" not in {s for _, s, _ in held["train"] | held["val"]}


def test_unknown_test_speaker_lists_the_valid_ones(recordings):
    with pytest.raises(SeqkitError, match="unknown speaker.*lukas.*george, jackson, lucas, nicolas, yweweler"):
        split(recordings, ["lukas"])


def test_sentencepiece_units_are_trained_on_training_transcripts_only(data_root):
    data = sk.SpeechData(units="sentencepiece", vocab_size=24, train_utterances=300, eval_utterances=20)
    tokenizer = data.tokenizer
    assert tokenizer.kind == "sentencepiece" and data.dims["vocab_size"] == tokenizer.vocab_size
    for i in range(20):
        text = data.splits["test"].utterance(i)[1]
        assert tokenizer.decode(tokenizer.encode(text)) == text
    again = sk.tokenizer_from_data(tokenizer.to_data())
    assert again.encode("three one four") == tokenizer.encode("three one four")
    with pytest.raises(SeqkitError, match="data.units must be chars, words or sentencepiece, got 'phones'"):
        sk.SpeechData(units="phones", train_utterances=10, eval_utterances=10)


def test_words_units_make_the_ten_digits_the_classes(data_root):
    data = sk.SpeechData(data_root / "fsdd/recordings", digits="isolated", units="words", train_utterances=8,
                         eval_utterances=8)
    assert data.tokenizer.words == sorted(DIGITS) and data.dims["vocab_size"] == 10
    assert data.tokenizer.decode(data.tokenizer.encode("three one")) == "three one"
    with pytest.raises(SeqkitError, match="word 'eleven' is not in the model's vocabulary"):
        data.tokenizer.encode("eleven")
