"""Checkpoints: load safely (tensors and plain data only) and rebuild the model from them."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from seqkit.errors import SeqkitError
from seqkit.model import Ensemble, SeqModel, build_model


def resolve(target: str | Path) -> Path:
    """A checkpoint file from a checkpoint path or a run directory (its average of the last epochs'
    weights where ``trainer.average_last`` made one, else its best, else its last)."""
    path = Path(target)
    if path.is_dir():
        for name in ("average.ckpt", "best.ckpt", "last.ckpt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise SeqkitError(f"{path} holds no checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not path.is_file():
        raise SeqkitError(f"checkpoint {path} not found")
    return path


def load_file(path: str | Path) -> dict:
    """``torch.load(path, weights_only=True)`` with one-line errors that name the file.

    Tensors and plain data only: a pickled object (a ``__reduce__`` payload) is refused before
    anything of it runs; a truncated or corrupt file is reported as such.
    """
    path = Path(path)
    if not path.is_file():
        raise SeqkitError(f"checkpoint {path} not found")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its directory is at the very end
        raise SeqkitError(f"{path}: not a readable checkpoint, truncated or corrupt (not a torch zip archive); "
                          f"give a .ckpt file or a run directory")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else "unsafe content"
        raise SeqkitError(f"{path}: refused to load, it holds more than tensors and plain data ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise SeqkitError(f"{path}: not a readable checkpoint, truncated or corrupt "
                          f"({' '.join(str(err).split())[:120]}); resume from another checkpoint or retrain") from None


def read(path: str | Path) -> dict:
    """Load a seqkit checkpoint with ``weights_only=True``: no pickled objects, no code runs."""
    path = resolve(path)
    checkpoint = load_file(path)
    if not isinstance(checkpoint, dict) or "seqkit" not in checkpoint or "state_dict" not in checkpoint:
        raise SeqkitError(f"{path}: not a seqkit checkpoint (no 'seqkit' section)")
    return checkpoint


def save_file(checkpoint: dict, path: str | Path) -> None:
    """Write `checkpoint` atomically: a temporary file in the same folder, fsync, then rename.

    A process killed at any moment leaves either the previous file or the new one, never a
    partial one (a stale ``.tmp`` file at worst, overwritten by the next save).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        torch.save(checkpoint, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint input/output, made atomic on save and ``weights_only`` on load.

    Every checkpoint Lightning reads (``fit(ckpt_path=...)``, ``test(ckpt_path="best")``) goes
    through `load_file`, whatever ``weights_only`` the caller asked for.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        save_file(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return load_file(path)


def load_model(path: str | Path) -> tuple[SeqModel | Ensemble, dict]:
    """Rebuild the model a checkpoint was trained as, with its weights, in eval mode (an
    ensemble checkpoint: a `seqkit.Ensemble` of its members).

    Returns the model and the checkpoint's ``seqkit`` section (config, sizes, scaler ...).
    """
    checkpoint = read(path)
    info = upgraded(checkpoint["seqkit"])
    prefix = "model."
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if "members" in info:
        members = []
        for k, member in enumerate(info["members"]):
            own = f"members.{k}."
            members.append(build_member(member, {n[len(own):]: v for n, v in state.items() if n.startswith(own)}))
        return Ensemble(members).eval(), info
    return build_member(info, state), info


# The data module of a checkpoint written before checkpoints named theirs, by its config's ``task``.
FORMER_TASKS = {"ltsf": "SeriesData", "asr": "SpeechData", "lm": "TextData"}


def upgraded(info: dict) -> dict:
    """A checkpoint's ``seqkit`` section in today's names: one written before its data module was
    recorded names it by the config's top-level ``task``, and its speech data's ``task`` is ``digits``.

    Example:
        >>> old = {"config": {"task": "asr", "data": {"task": "isolated"}}}
        >>> upgraded(old) == {"config": {"data": {"digits": "isolated"}}, "data_module": "SpeechData"}
        True
    """
    config = dict(info.get("config") or {})
    if "data_module" in info or config.get("task") not in FORMER_TASKS:
        new = dict(info)
    else:
        new = {**info, "data_module": FORMER_TASKS[config.pop("task")]}
    data = config.get("data")
    if new.get("data_module") == "SpeechData" and isinstance(data, dict) and "task" in data:
        config["data"] = {("digits" if k == "task" else k): v for k, v in data.items()}
    if "config" in info:
        new["config"] = config
    if "members" in info:
        new["members"] = [upgraded(member) for member in info["members"]]
    return new


def build_member(info: dict, state: dict) -> SeqModel:
    """The model of one checkpoint ``seqkit`` section with its weights `state`, in eval mode."""
    model = build_model(info["config"]["model"], **info["dims"])
    model.load_state_dict(state)
    if info.get("warp") is not None and hasattr(model.frontend, "warp"):  # an adapted model hears its speaker warped
        model.frontend.warp = info["warp"]
    return model.eval()


def save_model(model: nn.Module, info: dict, path: str | Path) -> Path:
    """Write `model`'s weights and its ``seqkit`` section `info` as a checkpoint that
    `load_model` reads back (atomically, `save_file`); the layout of a recipe's checkpoints."""
    import lightning

    save_file({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "seqkit": info,
               "pytorch-lightning_version": lightning.__version__}, path)
    return Path(path)
