"""A corpus's train, dev and test utterances from a data config (real AN4, FSDD and manifests of
their files), the derived splits and the one-line refusals."""

from __future__ import annotations

import pytest

from seqkit.data.splits import read_splits
from seqkit.errors import SeqkitError

from helpers import one_line


def test_an4_by_name_under_the_data_root_has_espnets_splits():
    parts = read_splits("an4")
    assert {k: len(v) for k, v in parts.items()} == {"train": 848, "dev": 100, "test": 130}
    assert parts["dev"][0].id == "fash-an251-b" and parts["dev"][-1].id == "fjmd-cen8-b"


def test_fsdd_folder_splits_by_its_index_convention():
    parts = read_splits("fsdd/recordings")
    assert {k: len(v) for k, v in parts.items()} == {"train": 2000, "dev": 250, "test": 250}
    assert parts["test"][0].text in {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}


def test_manifests_give_train_and_test_and_dev_derives_from_train(manifests):
    train, test, speakers = manifests
    parts = read_splits(None, train=str(train), test=str(test), dev_split={"first": 3})
    assert [len(parts[k]) for k in ("train", "dev", "test")] == [9, 3, 4]
    assert [u.id for u in parts["dev"]] == sorted(u.id for u in parts["dev"] + parts["train"])[:3]
    by_speaker = read_splits(None, train=str(train), test=str(test), dev_split={"speakers": [speakers[0]]})
    assert {u.speaker for u in by_speaker["dev"]} == {speakers[0]}
    assert speakers[0] not in {u.speaker for u in by_speaker["train"]}
    fraction = read_splits(None, train=str(train), test_split={"fraction": 0.3}, dev_split={"first": 2})
    assert len({u.speaker for u in fraction["test"]}) == 1  # 0.3 of 3 speakers
    assert not {u.speaker for u in fraction["test"]} & {u.speaker for u in fraction["train"] + fraction["dev"]}
    assert fraction == read_splits(None, train=str(train), test_split={"fraction": 0.3}, dev_split={"first": 2})


@pytest.mark.parametrize("settings, names", [
    ({"path": None}, ["data.path", "data.train"]),
    ({"path": "no/such/corpus"}, ["data.path", "no/such/corpus"]),
    ({"path": "an4/etc"}, ["an4/etc", "not a corpus folder"]),
    ({"train": "{train}", "dev_split": {"first": 2}}, ["no test utterances", "data.test_split"]),
    ({"train": "{train}", "test": "{test}"}, ["no dev utterances", "data.dev_split"]),
    ({"train": "{train}", "test": "{test}", "dev_split": {"last": 2}}, ["data.dev_split", "{first: N}"]),
    ({"train": "{train}", "test": "{test}", "dev_split": {"first": 12}}, ["data.dev_split", "first 12"]),
    ({"train": "{train}", "test": "{test}", "dev_split": {"speakers": ["nobody"]}}, ["unknown speaker", "nobody"]),
    ({"train": "{train}", "test": "{train}", "dev_split": {"first": 2}}, ["also training utterances"]),
    ({"train": "{train}", "test": "an4", "dev_split": {"first": 2}}, ["data.test", "its own splits"]),
])
def test_bad_split_settings_get_one_line(manifests, settings, names):
    train, test, _ = manifests
    given = {k: v.format(train=train, test=test) if isinstance(v, str) else v for k, v in settings.items()}
    with pytest.raises(SeqkitError) as err:
        read_splits(**{"path": None, **given})
    one_line(err.value, *names)
