"""A folder of one subfolder per class, the layout of Google's Speech Commands
(``<class>/<speaker>_nohash_<n>.wav``), read into recordings of one word each and split by speaker.

Every subfolder is a class, its name the word (``_silence_`` and ``_unknown_`` too, when there);
hidden folders and ``_background_noise_`` (Speech Commands' long noise recordings, not a class) are
skipped. The split is Speech Commands' own (its README, and ``which_set`` in TensorFlow's
``examples/speech_commands/input_data.py``): the part of the file name before ``_nohash_`` (the
speaker) hashed with SHA-1, the hash modulo 2**27 scaled to a percentage, below `validation` is
validation, below `validation` + `testing` is test, the rest train; so every clip of a speaker lands
in the same split, whatever else the folder holds. A folder with ``validation_list.txt`` and
``testing_list.txt`` (as the released archives have) is split by those lists instead: the files
they name (relative paths, ``right/a69b9b3e_nohash_0.wav``) are validation and test, all others train.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from seqkit.data.audio import read_audio
from seqkit.data.fsdd import Recording
from seqkit.errors import SeqkitError

SKIPPED = "_background_noise_"  # Speech Commands' noise for mixing in, not a class
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".sph", ".nist", ".aif", ".aiff", ".au", ".opus")
MAX_CLIPS = 2**27 - 1  # Speech Commands' MAX_NUM_WAVS_PER_CLASS: the hash is taken modulo this + 1
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NAMES = {"train": "training", "val": "validation", "test": "test"}
NOHASH = re.compile(r"_nohash_.*$")
TAKE = re.compile(r"_nohash_(\d+)")
LAYOUT = "<class>/<speaker>_nohash_<n>.wav"


def speaker_of(name: str) -> str:
    """Speech Commands' speaker id of a file name: the part before ``_nohash_`` (without one, the name).

    Example:
        >>> speaker_of("3cfc6b3a_nohash_2.wav"), speaker_of("noise.wav")
        ('3cfc6b3a', 'noise.wav')
    """
    return NOHASH.sub("", name)


def which_split(name: str, validation: float = 10.0, testing: float = 10.0) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for the file `name` (a path or its last part) by Speech
    Commands' rule: SHA-1 of its speaker id, modulo 2**27, as a percentage, against `validation` and
    `validation` + `testing` percent.

    Example:
        >>> [which_split(f"{s}_nohash_0.wav") for s in ("0ab3b47d", "lucas-3", "3cfc6b3a")]
        ['val', 'test', 'train']
        >>> which_split("right/0ab3b47d_nohash_4.wav", validation=5.0)  # 9.13 %: test at 5 % / 10 %
        'test'
    """
    digest = hashlib.sha1(speaker_of(Path(name).name).encode("utf-8")).hexdigest()
    percent = int(digest, 16) % (MAX_CLIPS + 1) * (100.0 / MAX_CLIPS)
    return "val" if percent < validation else "test" if percent < validation + testing else "train"


def class_folders(folder: Path) -> list[Path]:
    """The class subfolders of `folder`, sorted (hidden ones and ``_background_noise_`` left out).

    Example:
        >>> class_folders(Path("no/such/folder"))
        []
    """
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != SKIPPED)


def find_classes(folder: Path) -> dict[str, list[str]]:
    """Each class of `folder` and its audio files (paths relative to `folder`, ``/``-separated, sorted)."""
    found = {}
    for sub in class_folders(folder):
        if len(sub.name.split()) != 1:
            raise SeqkitError(f"{sub}: a class folder's name is its word and cannot hold spaces; rename it")
        files = sorted(p.name for p in sub.iterdir()
                       if p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".") and not p.is_dir())
        if not files:
            raise SeqkitError(f"{sub}: a class folder with no audio files ({', '.join(AUDIO_SUFFIXES[:4])} ...); "
                              f"add its recordings or remove it")
        found[sub.name] = [f"{sub.name}/{name}" for name in files]
    if not found:
        raise SeqkitError(f"{folder}: no class subfolders ({LAYOUT}); give a folder of one subfolder of audio "
                          f"per class")
    return found


def read_list(path: Path) -> dict[str, int]:
    """The files a Speech Commands list names (relative paths, one a line) and their line numbers."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SeqkitError(f"{path}: not a readable list of files ({err.__class__.__name__}); fix or remove "
                          f"it") from None
    named = {}
    for number, line in enumerate(lines, 1):
        entry = line.strip().replace("\\", "/").removeprefix("./")
        if entry:
            named.setdefault(entry, number)
    return named


def assign(folder: Path, files: list[str], validation: float = 10.0, testing: float = 10.0) -> tuple[dict, str]:
    """The split of each of `files` (relative paths), and how it was chosen: by `folder`'s
    ``validation_list.txt`` and ``testing_list.txt`` when it has both, else by `which_split`."""
    present = {name: (folder / file).is_file() for name, file in LISTS.items()}
    if present["val"] != present["test"]:
        have, lack = (LISTS["val"], LISTS["test"]) if present["val"] else (LISTS["test"], LISTS["val"])
        raise SeqkitError(f"{folder}: has {have} but no {lack}; give both lists (Speech Commands' split) or neither "
                          f"(the split by speaker hash)")
    if not present["val"]:
        if not (0 <= validation and 0 <= testing and validation + testing < 100):
            raise SeqkitError(f"data.validation_percentage and data.testing_percentage must be >= 0 and add up to "
                              f"less than 100, got {validation} and {testing}")
        return ({f: which_split(f, validation, testing) for f in files},
                f"{validation:g} % / {testing:g} % of the speakers by hash")
    val, test = (read_list(folder / LISTS[name]) for name in ("val", "test"))
    both = sorted(set(val) & set(test), key=val.get)
    if both:
        raise SeqkitError(f"{folder / LISTS['test']}:{test[both[0]]}: {both[0]} is also in {LISTS['val']} "
                          f"(line {val[both[0]]}); a file can be in one split only")
    rule = f"{LISTS['val']} and {LISTS['test']}"
    return {f: "val" if f in val else "test" if f in test else "train" for f in files}, rule


def read_classes(folder: Path, sample_rate: int = 16000, validation: float = 10.0,
                 testing: float = 10.0) -> dict[str, list[Recording]]:
    """The training, validation and test recordings of a class folder (``train``, ``val``, ``test``),
    each sorted by path, its word the class's, its speaker the part before ``_nohash_``, its index
    the ``<n>`` after it (0 without one), its audio read and resampled to `sample_rate`.

    The split is checked before any audio is read: none may be empty, and every class of the
    validation and test splits has training recordings.
    """
    folder = Path(folder)
    classes = find_classes(folder)
    where, rule = assign(folder, [f for files in classes.values() for f in files], validation, testing)
    names = {part: [f for f in where if where[f] == part] for part in NAMES}
    for part, files in names.items():
        if not files:
            raise SeqkitError(f"{folder}: the {NAMES[part]} split has no recordings ({rule}, "
                              f"{len({speaker_of(Path(f).name) for f in where})} speakers); add speakers, or give "
                              f"{LISTS['val']} and {LISTS['test']}")
    trained = {f.split("/")[0] for f in names["train"]}
    untrained = [c for c in classes if c not in trained]
    if untrained:
        raise SeqkitError(f"{folder}: class {untrained[0]} has no training recordings (all its speakers fell in "
                          f"validation or test by {rule}); add recordings of other speakers to it")

    def recording(file: str) -> Recording:
        word, name = file.split("/")
        take = TAKE.search(name)
        return Recording(word, speaker_of(name), int(take.group(1)) if take else 0,
                         read_audio(folder / file, sample_rate))

    return {part: [recording(f) for f in files] for part, files in names.items()}
