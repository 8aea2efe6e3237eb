"""A speech corpus's train, dev and test utterances from a data config: a corpus folder in a known
layout (AN4, FSDD, a Kaldi data folder) or a manifest, with splits given as separate sources or
derived from the training utterances (first N of the sorted ids, named speakers, a fraction of the
speakers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from seqkit.data.an4 import read_an4
from seqkit.data.corpus import Utterance, by_speakers, first_n, speaker_fraction
from seqkit.data.fsdd import DIGITS, NAME
from seqkit.data.kaldi import read_kaldi
from seqkit.data.manifest import read_manifest
from seqkit.data.root import data_root
from seqkit.errors import SeqkitError

SPLITS = ("train", "dev", "test")
RULES = "{first: N}, {speakers: [a, b]} or {fraction: F}"


def find_source(given: str | Path, field: str) -> Path:
    """The file or folder `given` names: as given (absolute, or relative to the working folder),
    else under the data root; a one-line error naming `field` when neither holds it."""
    path = Path(given).expanduser()
    if path.exists():
        return path
    root, origin = data_root()
    if not path.is_absolute() and (root / path).exists():
        return root / path
    raise SeqkitError(f"{field}: {given} not found (nor under the data root {root}, from {origin}); "
                      f"give an existing manifest or corpus folder")


def read_source(path: Path) -> list[Utterance] | dict[str, list[Utterance]]:
    """A manifest file or a corpus folder: its utterances, or its own splits (AN4, FSDD)."""
    if path.is_file():
        return read_manifest(path)
    if (path / "etc" / "an4_train.transcription").is_file():
        return read_an4(path)
    if (path / "wav.scp").is_file():
        return read_kaldi(path)
    if any(NAME.match(p.name) for p in path.iterdir()):
        return read_fsdd_corpus(path)
    raise SeqkitError(f"{path}: not a corpus folder seqkit knows (AN4: etc/ and wav/; Kaldi: wav.scp and text; "
                      f"FSDD: digit_speaker_index.wav files); give a manifest instead (.tsv, .csv or .jsonl)")


def read_fsdd_corpus(folder: Path) -> dict[str, list[Utterance]]:
    """FSDD's recordings as isolated-word utterances, split by its convention: index 0-4 test,
    5-9 dev, the rest train (as `seqkit.data.fsdd.split`)."""
    parts: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for path in sorted(folder.iterdir()):
        found = NAME.match(path.name)
        if found:
            digit, speaker, index = found.groups()
            part = "test" if int(index) <= 4 else "dev" if int(index) <= 9 else "train"
            parts[part].append(Utterance(path.stem, path, DIGITS[int(digit)], speaker))
    return parts


def derive(utterances: list[Utterance], rule, name: str, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    """Split `utterances` by `rule` (``{first: N}``, ``{speakers: [...]}`` or ``{fraction: F}``):
    (the `name` split, the rest)."""
    if not isinstance(rule, Mapping) or len(rule) != 1 or next(iter(rule)) not in ("first", "speakers", "fraction"):
        raise SeqkitError(f"data.{name}_split must be one of {RULES}, got {rule!r}")
    (kind, value), = rule.items()
    try:
        if kind == "first":
            return first_n(utterances, int(value))
        if kind == "speakers":
            return by_speakers(utterances, [str(s) for s in ([value] if isinstance(value, str) else value)])
        return speaker_fraction(utterances, float(value), seed)
    except SeqkitError as err:
        raise SeqkitError(f"data.{name}_split={dict(rule)}: {err}") from None


def read_splits(path: str | None = None, train: str | None = None, dev: str | None = None, test: str | None = None,
                dev_split=None, test_split=None, seed: int = 0) -> dict[str, list[Utterance]]:
    """The train, dev and test utterances a data config names.

    Args:
        path: a corpus folder in a known layout, or a manifest; AN4's and FSDD's folders bring their
            own three splits, anything else is the training utterances.
        train, dev, test: manifests or Kaldi folders of each split; they replace `path`'s.
        dev_split, test_split: how to derive a split missing from the training utterances
            (`RULES`); the test split first, then the dev split from what remains.
        seed: chooses the speakers of a ``fraction`` rule.
    """
    parts: dict[str, list[Utterance]] = {}
    if train is None and path is None:
        raise SeqkitError("give data.path (a corpus folder or manifest) or data.train (a manifest)")
    source = read_source(find_source(train or path, "data.train" if train else "data.path"))
    parts.update(source if isinstance(source, dict) else {"train": source})
    for name, given in (("dev", dev), ("test", test)):
        if given is not None:
            found = read_source(find_source(given, f"data.{name}"))
            if isinstance(found, dict):
                raise SeqkitError(f"data.{name}: {given} is a corpus with its own splits; give a manifest or Kaldi "
                                  f"folder of the {name} utterances only")
            parts[name] = found
    for name, rule in (("test", test_split), ("dev", dev_split)):
        if rule is not None:
            parts[name], parts["train"] = derive(parts["train"], rule, name, seed)
        elif name not in parts:
            raise SeqkitError(f"no {name} utterances: give data.{name} (a manifest) or data.{name}_split ({RULES})")
    for name in SPLITS:
        if not parts[name]:
            raise SeqkitError(f"the {name} split has no utterances; check data.path, data.{name} and "
                              f"data.{name}_split")
    spans = {(u.audio.resolve(), u.start, u.end): u.id for u in parts["train"]}
    shared = sorted(spans[key] for key in ((u.audio.resolve(), u.start, u.end) for u in parts["test"]) if key in spans)
    if shared:
        raise SeqkitError(f"{len(shared)} test utterance(s) are also training utterances (first: {shared[0]}); "
                          f"the test set must be unheard in training")
    return {name: parts[name] for name in SPLITS}
