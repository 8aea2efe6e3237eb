"""Settings that were renamed or removed say what to write instead."""

from __future__ import annotations

import pytest

from seqkit.config import load_config
from seqkit.errors import SeqkitError

from helpers import ROOT


@pytest.mark.parametrize("override, message", [
    ("data.task=isolated", "data.task in the command-line overrides is now data.digits"),
    ("task=asr", "task in the command-line overrides is gone: remove it"),
])
def test_an_old_setting_names_its_new_form(override, message):
    with pytest.raises(SeqkitError, match=message):
        load_config(ROOT / "recipes/digits", overrides=[override])


def test_the_new_name_is_taken():
    assert load_config(ROOT / "recipes/digits", overrides=["data.digits=isolated"]).data.digits == "isolated"
