"""Checkpoints: load safely (tensors and plain data only) and rebuild the model from them."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, build_model


def resolve(target: str | Path) -> Path:
    """A checkpoint file from a checkpoint path or a run directory (its best, else its last)."""
    path = Path(target)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
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


def load_model(path: str | Path) -> tuple[SeqModel, dict]:
    """Rebuild the model a checkpoint was trained as, with its weights, in eval mode (an
    ensemble checkpoint: a `seqkit.Ensemble` of its members).

    Returns the model and the checkpoint's ``seqkit`` section (config, sizes, scaler ...).
    """
    checkpoint = read(path)
    info = checkpoint["seqkit"]
    prefix = "model."
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if "members" in info:
        from seqkit.ensemble import build_ensemble

        return build_ensemble(info, state).eval(), info
    return build_member(info, state), info


def build_member(info: dict, state: dict) -> SeqModel:
    """The model of one checkpoint ``seqkit`` section with its weights `state`, in eval mode."""
    model = build_model(info["config"]["model"], **info["dims"])
    model.load_state_dict(state)
    if info.get("warp") is not None and hasattr(model.frontend, "warp"):  # an adapted model hears its speaker warped
        model.frontend.warp = info["warp"]
    return model.eval()
