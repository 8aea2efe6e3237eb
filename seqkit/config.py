"""Configs: a recipe's YAML, overlays merged on top, ``a.b=v`` overrides last; unknown keys fail.

The recipe's own ``config.yaml`` is the schema: an overlay or an override may only set keys it
already has (with the value's type), except inside a block spec (``model.frontend`` ...), where
any argument of a block of that kind is accepted and checked against the blocks' signatures.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqkit.blocks import TABLES, check_spec, parameters
from seqkit.errors import SeqkitError, check_type, nearest, type_name


def read_yaml(path: Path | str) -> DictConfig:
    """Load one YAML mapping, with a one-line error naming the file if it is missing or broken."""
    path = Path(path)
    if path.is_dir():
        raise SeqkitError(f"config file {path} is a folder; give a YAML file (an overlay such as configs/debug.yaml, "
                          f"or a bundled overlay's name: debug, cpu, gpu, ddp)")
    if not path.is_file():
        raise SeqkitError(f"config file {path} not found")
    try:
        cfg = OmegaConf.load(path)
    except (yaml.YAMLError, OmegaConfBaseException, UnicodeDecodeError) as err:
        detail = " ".join(str(err).split())
        raise SeqkitError(f"config file {path} is not valid YAML: {detail}") from None
    except OSError as err:  # unreadable, or a lone value (OmegaConf: "Invalid loaded object type")
        raise SeqkitError(f"config file {path} cannot be used ({' '.join(str(err).split())}); "
                          f"it must hold a mapping of settings, key: value") from None
    if not isinstance(cfg, DictConfig):
        raise SeqkitError(f"config file {path} must hold a mapping of settings, not a list")
    return cfg


def parse_overrides(overrides: Iterable[str]) -> DictConfig:
    """Turn ``["data.pred_len=336", ...]`` into a config, with an error for malformed items."""
    items = list(overrides)
    for item in items:
        key = item.split("=", 1)[0]
        if "=" not in item or not key or any(not part for part in key.split(".")):
            raise SeqkitError(f"override {item!r} is not of the form key.subkey=value")
    try:
        return OmegaConf.from_dotlist(items)
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        raise SeqkitError(f"cannot parse overrides {' '.join(items)}: {' '.join(str(err).split())}") from None


def _flat_keys(cfg: Mapping, prefix: str = "") -> list[str]:
    keys = []
    for key, value in cfg.items():
        keys.append(prefix + str(key))
        if isinstance(value, Mapping):
            keys += _flat_keys(value, f"{prefix}{key}.")
    return keys


def _is_block_spec(path: str) -> bool:
    parts = path.split(".")
    return len(parts) == 2 and parts[0] == "model" and parts[1] in TABLES


def _no_value(path: str, default, source: str, whose: str = "the recipe's") -> SeqkitError:
    kind = "a mapping" if isinstance(default, Mapping) else type_name(default)
    example = "" if isinstance(default, Mapping) else f", such as {whose} {default!r}"
    return SeqkitError(f"{path}{source} has no value (null or empty); give {kind}{example}")


# Settings that were renamed or removed, and what to write instead.
RENAMED = {"task": "gone: remove it (a checkpoint records its data module)", "data.task": "now data.digits"}


def check_keys(new: Mapping, base: Mapping, source: str, prefix: str = "", root: Mapping | None = None) -> None:
    """Fail if `new` sets a key `base` does not have (naming the closest ones), changes a type, or
    empties (null) a key that has a value in `base` and so is needed."""
    root = base if root is None else root
    for key, value in new.items():
        path = f"{prefix}{key}"
        if isinstance(value, str) and value == "???":  # OmegaConf's "missing": merging it would keep the old value
            raise SeqkitError(f"{path} in {source} is ??? (no value); give it a value")
        if _is_block_spec(prefix.rstrip(".")):
            continue  # block arguments are checked against the block signatures
        if key not in base and path in RENAMED:
            raise SeqkitError(f"{path} in {source} is {RENAMED[path]}")
        if key not in base:
            raise SeqkitError(f"unknown key {path!r} in {source}; {nearest(path, _flat_keys(root))}")
        old = base[key]
        if value is None and old is not None:
            raise _no_value(path, old, f" in {source}")
        check_type(path, float(old) if isinstance(old, int) and either_number(path) else old, value, f" in {source}")
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            check_keys(value, old, source, f"{path}.", root)


def listed(new: dict, schema: Mapping) -> dict:
    """`new` with a single value given where the schema has a list made a one-element list
    (``data.test_speakers=lucas`` is ``[lucas]``, never the letters of ``lucas``).

    Example:
        >>> listed({"data": {"test_speakers": "lucas", "seed": 1}}, {"data": {"test_speakers": [], "seed": 0}})
        {'data': {'test_speakers': ['lucas'], 'seed': 1}}
    """
    out = {}
    for key, value in new.items():
        old = schema.get(key) if isinstance(schema, Mapping) else None
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            value = listed(value, old)
        elif isinstance(old, list) and value is not None and not isinstance(value, (list, Mapping)):
            value = [value]
        out[key] = value
    return out


def either_number(path: str) -> bool:
    """Whether a setting takes an integer or a fraction alike: a Lightning Trainer argument typed
    ``int | float`` (``trainer.limit_train_batches``: 3 batches or 0.5 of them)."""
    section, _, name = path.partition(".")
    if section != "trainer" or "." in name:
        return False
    parameter = trainer_parameters().get(name)
    annotation = str(parameter.annotation) if parameter is not None else ""
    return "int" in annotation and "float" in annotation


@functools.cache
def trainer_parameters() -> dict[str, inspect.Parameter]:
    """Lightning Trainer's arguments, read once a process."""
    import lightning

    return dict(inspect.signature(lightning.Trainer.__init__).parameters)


# Settings whose values must lie in a range, and the range's words: checked before a run starts.
POSITIVE = {"train.lr": "a learning rate above 0"}
FRACTION_OR_COUNT = ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.limit_test_batches")


def check_values(cfg: DictConfig) -> None:
    """One-line errors for values of the right type that no run can use, before anything is written."""
    for path, words in POSITIVE.items():
        value = OmegaConf.select(cfg, path)
        if isinstance(value, (int, float)) and not (math.isfinite(value) and value > 0):
            raise SeqkitError(f"{path} must be {words}, got {value!r}")
    for path in FRACTION_OR_COUNT:
        value = OmegaConf.select(cfg, path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not ((isinstance(value, int) and value >= 1) or (isinstance(value, float) and 0 < value <= 1)):
            raise SeqkitError(f"trainer settings: {path} must be a number of batches (1 or more) or a fraction of "
                              f"them in (0, 1], got {value!r} (fix that trainer.* value in the recipe's config.yaml "
                              f"or on the command line)")


def load_config(
    path: Path | str, overlays: Iterable[Path | str] = (), overrides: Iterable[str] = ()
) -> DictConfig:
    """Load a recipe config, merge overlay files in order, then apply ``a.b=v`` overrides.

    Args:
        path: the recipe's ``config.yaml`` (or the recipe folder).
        overlays: YAML files merged on top in order (``-c configs/debug.yaml``).
        overrides: ``key.subkey=value`` strings from the command line, applied last.

    Example:
        >>> cfg = load_config("recipes/ltsf", overrides=["data.pred_len=192"])
        >>> cfg.data.pred_len, cfg.model.backend.name
        (192, 'segrnn')
    """
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    cfg = read_yaml(path)
    schema = OmegaConf.to_container(cfg)  # what each setting takes: the recipe's own values, not the last layer's
    layers = [(read_yaml(overlay), f"overlay {overlay}") for overlay in overlays]
    layers.append((parse_overrides(overrides), "the command-line overrides"))
    for layer, source in layers:
        values = listed(OmegaConf.to_container(layer), schema)
        check_keys(values, schema, source)
        cfg = OmegaConf.merge(cfg, OmegaConf.create(values))
    check_blocks(cfg)
    check_values(cfg)
    epochs = cfg.get("trainer", {}).get("max_epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and (epochs == 0 or epochs < -1):
        # Lightning would take 0 (train nothing, then find no checkpoint to test) or fail mid-run
        raise SeqkitError(f"trainer.max_epochs must be at least 1, or -1 for no limit (trainer.max_time or "
                          f"early stopping ends the run), got {epochs}")
    try:  # a ??? left unset or a ${...} that names no setting fails here, not in the middle of a run
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "a setting"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SeqkitError(f"{key}: {reason}; give it a value (key.subkey=value)") from None
    return cfg


def check_blocks(cfg: DictConfig) -> None:
    """Check every block spec under ``model`` against the registered blocks' arguments."""
    model = cfg.get("model")
    if model is None:
        return
    for kind in TABLES:
        if kind in model:
            spec = OmegaConf.to_container(model[kind])
            if spec.get("name") is None:
                raise SeqkitError(f"model.{kind}.name has no value (null or empty); give one of "
                                  f"{', '.join(TABLES[kind])}")
            check_spec(kind, spec, f"model.{kind}")
            accepted = parameters(TABLES[kind][spec["name"]])
            for key, value in spec.items():
                default = accepted[key].default if key in accepted else None
                if value is None and default is not None:  # None where the block needs a value
                    if default is inspect.Parameter.empty:
                        raise SeqkitError(f"model.{kind}.{key} has no value (null or empty); "
                                          f"the {spec['name']} block needs one")
                    raise _no_value(f"model.{kind}.{key}", default, "", "the block's default")


def to_dict(cfg: DictConfig) -> dict:
    """A plain, resolved copy of `cfg` (for checkpoints and ``config.yaml`` of a run)."""
    return OmegaConf.to_container(cfg, resolve=True)
