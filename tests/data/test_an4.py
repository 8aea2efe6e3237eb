"""AN4 read from the real corpus: ESPnet's egs2/an4 split, the audio, and the refusals of broken copies."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from seqkit.data.an4 import read_an4
from seqkit.data.audio import read_audio
from seqkit.errors import SeqkitError


@pytest.fixture(scope="module")
def an4(data_root):
    return read_an4(data_root / "an4")


def speakers(utterances):
    return {u.speaker for u in utterances}


def test_the_split_is_espnets(an4):
    train, dev, test = an4["train"], an4["dev"], an4["test"]
    assert (len(train), len(dev), len(test)) == (848, 100, 130)
    assert [dev[0].id, dev[-1].id, train[0].id] == ["fash-an251-b", "fjmd-cen8-b", "fkai-an311-b"]
    assert [u.id for u in dev + train] == sorted(u.id for u in dev + train)
    assert len(speakers(dev)) == 8 and len(speakers(train)) == 66 and len(speakers(test)) == 10
    assert not speakers(dev) & speakers(train) and not speakers(test) & speakers(dev + train)
    assert len(speakers(dev + train)) == 74
    assert sum(len(u.text.split()) for u in test) == 773
    assert sum(len(u.text.split()) for u in dev + train) == 5442
    ids = [u.id for u in train + dev + test]
    assert len(set(ids)) == 948 + 130


def test_ids_texts_and_audio_follow_the_transcripts(an4, data_root):
    first = an4["dev"][0]
    assert (first.text, first.speaker) == ("YES", "fash")
    assert first.audio == data_root / "an4" / "wav" / "an4_clstk" / "fash" / "an251-fash-b.sph"
    assert an4["test"][0].audio.parent.parent.name == "an4test_clstk"
    for u in an4["train"] + an4["dev"] + an4["test"]:
        assert u.audio.is_file() and u.id.startswith(u.speaker + "-")
        assert u.text == u.text.upper() and "<s>" not in u.text and u.text.strip() == u.text != ""
        prefix, suffix = u.id.split("-")[1:]
        assert u.audio.stem == f"{prefix}-{u.speaker}-{suffix}"


def test_a_sphere_file_reads_as_16khz_audio(an4):
    audio = read_audio(an4["dev"][0].audio, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 * 16000 < len(audio) < 20 * 16000 and np.abs(audio).max() > 0


def copy(data_root, tmp_path, lines):
    """A small AN4 folder: the first `lines` of each transcription and their audio."""
    src, dest = data_root / "an4", tmp_path / "an4"
    for part, folder in (("train", "an4_clstk"), ("test", "an4test_clstk")):
        kept = (src / "etc" / f"an4_{part}.transcription").read_text().splitlines()[:lines]
        (dest / "etc").mkdir(parents=True, exist_ok=True)
        (dest / "etc" / f"an4_{part}.transcription").write_text("\n".join(kept) + "\n")
        for line in kept:
            name = line.rsplit("(", 1)[1].rstrip(")")
            target = dest / "wav" / folder / name.split("-")[1] / f"{name}.sph"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / "wav" / folder / name.split("-")[1] / f"{name}.sph", target)
    return dest


def test_a_copy_reads_and_markers_are_removed(data_root, tmp_path):
    root = copy(data_root, tmp_path, 102)
    path = root / "etc" / "an4_test.transcription"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([f"<s> {lines[0].replace(' (', ' </s> (')}", "", *lines[1:]]) + "\n")
    parts = read_an4(root)
    assert (len(parts["dev"]), len(parts["train"]), len(parts["test"])) == (100, 2, 102)
    assert parts["test"][0].text == "RUBOUT G M E F THREE NINE"


@pytest.mark.parametrize("bad", ["YES an251-fash-b", "(an251-fash-b)", "YES (an251-fash)", "<s> </s> (a-b-c)"])
def test_a_malformed_line_is_refused_with_its_file_and_line(data_root, tmp_path, bad):
    root = copy(data_root, tmp_path, 102)
    path = root / "etc" / "an4_train.transcription"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:4] + [bad] + lines[4:]) + "\n")
    with pytest.raises(SeqkitError, match=rf"^{path}:5: .*not 'WORDS \(prefix-speaker-suffix\)'") as err:
        read_an4(root)
    assert "\n" not in str(err.value)


def test_a_repeated_utterance_is_refused(data_root, tmp_path):
    root = copy(data_root, tmp_path, 102)
    path = root / "etc" / "an4_train.transcription"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[2]]) + "\n")
    with pytest.raises(SeqkitError, match=rf"^{path}:103: .* already on line 3"):
        read_an4(root)


def test_missing_audio_files_are_counted_and_the_first_named(data_root, tmp_path):
    root = copy(data_root, tmp_path, 102)
    gone = sorted((root / "wav" / "an4test_clstk").rglob("*.sph"))[:5]
    for p in gone:
        p.unlink()
    with pytest.raises(SeqkitError, match=r"an4_test.transcription: 5 of its 102 utterances have no audio") as err:
        read_an4(root)
    assert str(gone[0]) in str(err.value) and str(err.value).endswith("wav/)")


@pytest.mark.parametrize("remove", ["etc/an4_train.transcription", "etc/an4_test.transcription", "wav/an4_clstk",
                                    "wav/an4test_clstk", "."])
def test_a_missing_file_or_folder_is_refused_with_its_path(data_root, tmp_path, remove):
    root = copy(data_root, tmp_path, 102)
    target = root / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(SeqkitError, match="point data.path at the AN4 folder") as err:
        read_an4(root)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(target))
