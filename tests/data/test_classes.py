"""Class folders (Speech Commands' layout), built from real FSDD recordings: classes, the speaker-hash
split, the list files, resampling, and one-line refusals of bad folders (from the library and the CLI)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

import seqkit as sk
import seqkit.data.classes as classes
from seqkit.data.audio import read_audio
from seqkit.data.classes import read_classes, speaker_of, which_split
from seqkit.data.fsdd import DIGITS
from seqkit.errors import SeqkitError

from helpers import ROOT, one_line, one_line_error, run_cli

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")


def speaker_id(speaker: str, index: int, takes: int) -> str:
    """A Speech Commands-like speaker id (8 hex digits) for every `takes` recordings of an FSDD speaker."""
    return hashlib.sha1(f"{speaker}-{index // takes}".encode()).hexdigest()[:8]


def build(folder, fsdd, digits=range(4), indices=range(20), takes=2, speakers=SPEAKERS):
    """``<digit word>/<id>_nohash_<n>.wav`` copied from FSDD; returns {relative path: FSDD file}."""
    made = {}
    for d in digits:
        (folder / DIGITS[d]).mkdir(parents=True, exist_ok=True)
        for s in speakers:
            for i in indices:
                name = f"{DIGITS[d]}/{speaker_id(s, i, takes)}_nohash_{i % takes}.wav"
                shutil.copy(fsdd / f"{d}_{s}_{i}.wav", folder / name)
                made[name] = fsdd / f"{d}_{s}_{i}.wav"
    return made


@pytest.fixture
def fsdd(data_root):
    return data_root / "fsdd/recordings"


def test_classes_are_read_background_noise_skipped_and_speakers_split_by_hash(tmp_path, fsdd):
    made = build(tmp_path / "sc", fsdd)
    noise = tmp_path / "sc/_background_noise_"
    noise.mkdir()
    sf.write(noise / "white_noise.wav", np.random.default_rng(0).normal(0, 0.1, 80000), 16000)
    (tmp_path / "sc/.cache").mkdir()
    (tmp_path / "sc/README.md").write_text("not audio\n")
    (tmp_path / "sc/zero/notes.txt").write_text("not audio either\n")
    parts = read_classes(tmp_path / "sc", 8000)
    again = read_classes(tmp_path / "sc", 8000)
    assert {r.word for part in parts.values() for r in part} == {"zero", "one", "two", "three"}
    assert sum(len(p) for p in parts.values()) == len(made) == 400
    speakers = {name: {r.speaker for r in part} for name, part in parts.items()}
    assert not speakers["train"] & speakers["val"] and not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"] and all(speakers.values())
    for name, part in parts.items():  # every recording where the rule puts it; the same twice
        assert [(r.word, r.speaker, r.index) for r in part] == [(r.word, r.speaker, r.index) for r in again[name]]
        assert all(which_split(f"{r.speaker}_nohash_{r.index}.wav") == name for r in part)
    first = parts["val"][0]
    source = made[f"{first.word}/{first.speaker}_nohash_{first.index}.wav"]
    assert np.array_equal(first.audio, read_audio(source, 8000))


def test_the_split_follows_speech_commands_rule_and_percentages():
    # Speech Commands' README: SHA-1 of the name before _nohash_, modulo 2**27, as a percentage.
    name = "0ab3b47d_nohash_3.wav"
    value = int(hashlib.sha1(b"0ab3b47d").hexdigest(), 16) % 2**27 * 100 / (2**27 - 1)
    assert 5 < value < 10 and which_split(name) == "val" and which_split(name, 5.0, 10.0) == "test"
    assert which_split(name, 5.0, 4.0) == "train" and speaker_of(name) == "0ab3b47d"
    ids = [hashlib.md5(str(i).encode()).hexdigest()[:8] for i in range(20000)]
    for validation, testing in ((10.0, 10.0), (5.0, 15.0)):
        counts = Counter(which_split(f"{s}_nohash_0.wav", validation, testing) for s in ids)
        assert abs(counts["val"] / len(ids) - validation / 100) < 0.01
        assert abs(counts["test"] / len(ids) - testing / 100) < 0.01
    # All of a speaker's clips, in any class folder, go together.
    assert {which_split(f"{w}/{s}_nohash_{n}.wav") for w in ("yes", "no") for n in range(5) for s in ids[:1]} \
        == {which_split(f"{ids[0]}_nohash_0.wav")}


def test_list_files_are_honoured_and_resampled_formats_read(tmp_path, fsdd):
    made = build(tmp_path / "sc", fsdd, digits=[0, 1], indices=range(6), takes=3)
    names = sorted(made)
    (tmp_path / "sc/validation_list.txt").write_text("\n".join(names[:3]) + "\n")
    (tmp_path / "sc/testing_list.txt").write_text(names[3] + "\n" + names[-1] + "\n\n")
    stereo = tmp_path / "sc/_unknown_"  # a class of its own, here 16 kHz stereo FLAC
    stereo.mkdir()
    audio, rate = sf.read(fsdd / "5_lucas_7.wav")
    sf.write(stereo / "cafe0001_nohash_0.flac", np.stack([audio, audio], 1), rate * 2)
    parts = read_classes(tmp_path / "sc", 8000)
    listed = {name: [f"{r.word}/{r.speaker}_nohash_{r.index}.wav" for r in part] for name, part in parts.items()}
    assert listed["val"] == names[:3] and listed["test"] == [names[3], names[-1]]
    assert len(parts["train"]) == len(made) + 1 - 5 and parts["train"][0].word == "_unknown_"
    assert abs(len(parts["train"][0].audio) - len(audio) / 2) <= 1  # written at 16 kHz, read at 8 kHz


def test_one_list_without_the_other_and_a_file_in_both_are_refused(tmp_path, fsdd):
    made = build(tmp_path / "sc", fsdd, digits=[0], indices=range(4))
    first = sorted(made)[0]
    (tmp_path / "sc/testing_list.txt").write_text(first + "\n")
    with pytest.raises(SeqkitError) as err:
        read_classes(tmp_path / "sc")
    one_line(err.value, "testing_list.txt", "validation_list.txt", tmp_path / "sc")
    (tmp_path / "sc/validation_list.txt").write_text("x.wav\n" + first + "\n")
    with pytest.raises(SeqkitError) as err:
        read_classes(tmp_path / "sc")
    one_line(err.value, "testing_list.txt:1", first, "line 2")


def test_every_class_reaches_the_word_units_however_many_training_recordings(tmp_path, monkeypatch):
    # 3000 recordings (no audio needed: read_audio stubbed), sorted by class: the first 2000 training
    # utterances miss the last class, which the units must still hold.
    for word in DIGITS:
        (tmp_path / "sc" / word).mkdir(parents=True)
        for i in range(300):
            (tmp_path / "sc" / word / f"{speaker_id('x', i, 5)}_nohash_{i % 5}.wav").touch()
    monkeypatch.setattr(classes, "read_audio", lambda path, rate: np.full(800, 0.1, np.float32))
    data = sk.SpeechData(tmp_path / "sc", digits="isolated", units="words")
    train = data.splits["train"].recordings
    assert len(train) > 2000 and {r.word for r in train[:2000]} != set(DIGITS)
    assert data.tokenizer.words == sorted(DIGITS)


def bad_folders(root, fsdd):
    """Folders that must be refused, each with what the one-line error names."""
    empty = root / "empty_class"
    build(empty, fsdd, digits=[0, 1])
    (empty / "two").mkdir()
    (empty / "two/README.txt").write_text("no audio here\n")
    flat = root / "flat"
    flat.mkdir()
    (flat / "notes.txt").write_text("neither layout\n")
    few = root / "few_speakers"  # one speaker id per FSDD speaker: these four all hash to training
    build(few, fsdd, digits=[0, 1], indices=range(3), takes=50, speakers=SPEAKERS[:4])
    zero = root / "zero_length"
    build(zero, fsdd, digits=[0, 1])
    (zero / "one/0badf00d_nohash_0.wav").write_bytes(b"")
    garbage = root / "unreadable"
    build(garbage, fsdd, digits=[0, 1])
    (garbage / "zero/0badf00d_nohash_0.wav").write_bytes(b"RIFF1234not a wave file at all" * 10)
    return [(empty, [empty / "two", "no audio files"]), (flat, [flat, "digit_speaker_index.wav", "<class>"]),
            (few, [few, "validation split has no recordings", "4 speakers"]),
            (zero, [zero / "one/0badf00d_nohash_0.wav", "empty file"]),
            (garbage, [garbage / "zero/0badf00d_nohash_0.wav", "not a readable audio file"])]


def test_bad_class_folders_are_refused_in_one_line_and_the_command_writes_nothing(tmp_path, fsdd):
    for folder, names in bad_folders(tmp_path, fsdd):
        with pytest.raises(SeqkitError) as err:
            sk.SpeechData(folder, digits="isolated", units="words")
        one_line(err.value, *names)
        run = tmp_path / f"run-{folder.name}"
        code, out, err = run_cli("run", ROOT / "recipes/kws", f"data.path={folder}", f"run_dir={run}")
        one_line_error(code, err, *names)
        assert not run.exists()
    with pytest.raises(SeqkitError) as err:  # FSDD's speaker hold-out has no meaning for a class folder
        sk.SpeechData(tmp_path / "zero_length", test_speakers=["lucas"])
    one_line(err.value, "data.test_speakers", tmp_path / "zero_length")
