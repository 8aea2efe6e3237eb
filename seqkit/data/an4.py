"""CMU AN4 (Census): its transcripts and audio read into utterances, split as ESPnet's ``egs2/an4/asr1``.

A transcript line is ``WORDS (prefix-speaker-suffix)``; its audio is
``wav/<audio folder>/<speaker>/<prefix-speaker-suffix>.sph``. ESPnet names the utterance
``<speaker>-<prefix>-<suffix>``, sorts the training utterances by that id, holds out the first 100 as
the development set (``train_dev``) and trains on the other 848 (``train_nodev``); the 130 test
utterances (speakers never heard in training) are scored only at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

from seqkit.data.corpus import Utterance, first_n
from seqkit.errors import SeqkitError

DEV_SIZE = 100  # ESPnet: utils/subset_data_dir.sh --first data/train 100 data/train_dev
FOLDERS = {"train": "an4_clstk", "test": "an4test_clstk"}  # transcription split -> folder under wav/
LINE = re.compile(r"^(?P<text>.*\S)\s+\((?P<prefix>[^\s()-]+)-(?P<speaker>[^\s()-]+)-(?P<suffix>[^\s()-]+)\)$")
HINT = "point data.path at the AN4 folder (the one holding etc/ and wav/)"
SHOWN = 3  # missing audio files named in the refusal


def read_transcription(path: Path, audio_dir: Path) -> list[Utterance]:
    """The utterances of one AN4 transcription file, in the file's order, with their audio under `audio_dir`.

    Sentence markers ``<s>`` and ``</s>`` around the words are removed (as ESPnet does); blank lines are
    skipped; a line of another form, or an id given twice, is refused with its file and line.

    Args:
        path: the transcription file (``etc/an4_train.transcription`` or ``etc/an4_test.transcription``).
        audio_dir: the folder holding one sub-folder of ``.sph`` files per speaker.

    Example:
        >>> import tempfile
        >>> etc = Path(tempfile.mkdtemp())
        >>> _ = (etc / "an4.transcription").write_text("<s> YES </s> (an251-fash-b)\\nGO (an253-fash-b)\\n")
        >>> [(u.id, u.text, u.speaker, u.audio.name) for u in read_transcription(etc / "an4.transcription", etc)]
        [('fash-an251-b', 'YES', 'fash', 'an251-fash-b.sph'), ('fash-an253-b', 'GO', 'fash', 'an253-fash-b.sph')]
        >>> import shutil; shutil.rmtree(etc)
    """
    path, audio_dir = Path(path), Path(audio_dir)
    utterances, lines = [], {}
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        found = LINE.match(line)
        words = found and found["text"].removeprefix("<s> ").removesuffix(" </s>").strip()
        if not words or words in ("<s>", "</s>"):
            raise SeqkitError(f"{path}:{number}: {line[:60]!r} is not 'WORDS (prefix-speaker-suffix)'; "
                              f"correct the line or restore the file from an4_sphere.tar.gz")
        prefix, speaker, suffix = found["prefix"], found["speaker"], found["suffix"]
        uid = f"{speaker}-{prefix}-{suffix}"
        if uid in lines:
            raise SeqkitError(f"{path}:{number}: utterance {prefix}-{speaker}-{suffix} is already on line "
                              f"{lines[uid]}; remove one of the two lines")
        lines[uid] = number
        audio = audio_dir / speaker / f"{prefix}-{speaker}-{suffix}.sph"
        utterances.append(Utterance(uid, audio, words, speaker=speaker))
    return utterances


def read_an4(root: Path) -> dict[str, list[Utterance]]:
    """AN4 as ESPnet's ``egs2/an4/asr1`` splits it: ``train`` (848), ``dev`` (the first 100 training
    utterances by id, 8 whole speakers) and ``test`` (130, 10 speakers never in training).

    Utterance ids are ``<speaker>-<prefix>-<suffix>``; texts are the transcripts as written (upper case);
    audio is the 16 kHz NIST SPHERE file. The audio is not read here (``seqkit.data.audio.read_audio``).

    Args:
        root: the AN4 folder, the one holding ``etc/`` and ``wav/``.

    Example:
        >>> read_an4("/no/such/an4")
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: /no/such/an4/etc/an4_train.transcription: no such file; point data.path at \
the AN4 folder (the one holding etc/ and wav/)
    """
    root = Path(root)
    parts = {}
    for part, folder in FOLDERS.items():
        path, audio_dir = root / "etc" / f"an4_{part}.transcription", root / "wav" / folder
        if not path.is_file():
            raise SeqkitError(f"{path}: no such file; {HINT}")
        if not audio_dir.is_dir():
            raise SeqkitError(f"{audio_dir}: no such folder of audio; {HINT}")
        utterances = read_transcription(path, audio_dir)
        missing = [u.audio for u in utterances if not u.audio.is_file()]
        if missing:
            shown = ", ".join(str(p) for p in missing[:SHOWN]) + (" ..." if len(missing) > SHOWN else "")
            raise SeqkitError(f"{path}: {len(missing)} of its {len(utterances)} utterances have no audio file "
                              f"({shown}); restore them from an4_sphere.tar.gz or {HINT}")
        parts[part] = utterances
    dev, train = first_n(parts["train"], DEV_SIZE)
    return {"train": train, "dev": dev, "test": sorted(parts["test"], key=lambda u: u.id)}
