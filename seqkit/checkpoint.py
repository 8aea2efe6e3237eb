"""Checkpoints: load safely (tensors and plain data only) and rebuild the model from them."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

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


def read(path: str | Path) -> dict:
    """Load a seqkit checkpoint with ``weights_only=True``: no pickled objects, no code runs."""
    path = resolve(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else "unsafe content"
        raise SeqkitError(f"{path}: refused to load, it holds more than tensors and plain data ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise SeqkitError(f"{path}: not a readable checkpoint, truncated or corrupt "
                          f"({' '.join(str(err).split())[:120]})") from None
    if not isinstance(checkpoint, dict) or "seqkit" not in checkpoint or "state_dict" not in checkpoint:
        raise SeqkitError(f"{path}: not a seqkit checkpoint (no 'seqkit' section)")
    return checkpoint


def load_model(path: str | Path) -> tuple[SeqModel, dict]:
    """Rebuild the model a checkpoint was trained as, with its weights, in eval mode.

    Returns the model and the checkpoint's ``seqkit`` section (config, sizes, scaler ...).
    """
    checkpoint = read(path)
    info = checkpoint["seqkit"]
    model = build_model(info["config"]["model"], **info["dims"])
    prefix = "model."
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    model.load_state_dict(state)
    return model.eval(), info
