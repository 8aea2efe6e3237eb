"""Config inputs, property-based: empty, mistyped and unknown settings, and any overlay file, fail in one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, example, given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from seqkit.config import load_config
from seqkit.errors import SeqkitError

from helpers import FAST, ROOT, one_line

RECIPES = {name: ROOT / "recipes" / name for name in ("ltsf", "asr", "digits", "lm", "kws")}


def leaves(cfg: dict, prefix: str = "") -> dict[str, object]:
    """Every setting of a config by dotted path (block specs' arguments included)."""
    found = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


SETTINGS = {name: leaves(OmegaConf.to_container(OmegaConf.load(path / "config.yaml")))
            for name, path in RECIPES.items()}
NEEDED = sorted((name, key) for name, keys in SETTINGS.items() for key, value in keys.items()
                if value is not None and not isinstance(value, list))


@FAST
@given(setting=st.sampled_from(NEEDED), form=st.sampled_from(["{}=", "{}=null", "{}=???"]))
def test_a_setting_left_empty_is_refused_naming_it(setting, form):
    recipe, key = setting
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[form.format(key)])
    message = one_line(err.value, key)
    assert "no value" in message


@FAST
@given(recipe=st.sampled_from(sorted(RECIPES)), data=st.data(),
       word=st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True))
def test_a_value_of_the_wrong_type_is_refused_naming_key_and_value(recipe, data, word):
    typed = sorted(k for k, v in SETTINGS[recipe].items() if isinstance(v, (bool, int, float)))
    key = data.draw(st.sampled_from(typed))
    value = f"x{word}"  # never a number nor a YAML boolean
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[f"{key}={value}"])
    message = one_line(err.value, key, value)
    assert "must be" in message


@FAST
@given(recipe=st.sampled_from(sorted(RECIPES)),
       parts=st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=1, max_size=3))
def test_an_unknown_key_is_refused_naming_it_and_the_valid_ones(recipe, parts):
    key = ".".join(parts)
    known = set(SETTINGS[recipe]) | {k.rsplit(".", 1)[0] for k in SETTINGS[recipe]}
    assume(key not in known and not any(key.startswith(f"model.{kind}.") for kind in ("frontend", "backend", "head")))
    # The first part of the key that the config does not have (or the setting that is not a section).
    depth = next(k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) not in known
                 or ".".join(parts[:k]) in SETTINGS[recipe] and k < len(parts))
    named = ".".join(parts[:depth])
    with pytest.raises(SeqkitError) as err:
        load_config(RECIPES[recipe], overrides=[f"{key}=1"])
    message = one_line(err.value, named)
    assert (f"unknown key {named!r}" in message and ("did you mean" in message or "valid names" in message)
            or f"{named} in the command-line overrides must be" in message)


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["data", "model", "trainer", "backend", "seq_len",
                                                             "hidden", "name", "max_epochs", "x"]), inner,
                                            max_size=3)),
    max_leaves=8,
)


@FAST
@given(content=st.one_of(YAML_VALUES.map(yaml.safe_dump), st.text(max_size=60)))
@example(content="data: [1, 2\n")
@example(content="data:\n  seq_len: 1\n data: 2\n")
def test_any_overlay_file_loads_or_fails_in_one_line(content):
    with tempfile.TemporaryDirectory() as folder:
        overlay = Path(folder) / "mine.yaml"
        overlay.write_text(content, encoding="utf-8")
        try:
            cfg = load_config(RECIPES["ltsf"], [overlay])
        except SeqkitError as err:
            one_line(err)
        else:
            assert cfg.data.seq_len is not None and cfg.model.backend.name
