"""A Keras-style Python API: name blocks, compile, fit, evaluate, predict, save and load.

Blocks are named with `seqkit.layers` (one function per registered block, taking the block's
settable arguments, giving a `Layer`); sizes are derived from the data when `fit` first sees it,
as in a recipe.
Underneath it is the same SeqModel, Task and Lightning trainer the recipes use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from seqkit.blocks import TABLES, check_spec
from seqkit.checkpoint import load_model, save_model
from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, build_model
from seqkit.task import Task
from seqkit.training import history, make_trainer, run_test

KINDS = ("frontend", "backend", "head")


@dataclass(frozen=True)
class Layer:
    """A block not built yet: its kind, its registry name and its settable arguments; `Sequential`
    builds it (`seqkit.build`) when it first sees data, deriving its sizes.

    Example:
        >>> layer = Layer("backend", "gru", {"hidden": 64})
        >>> layer, layer.spec
        (Layer(backend gru: hidden=64), {'name': 'gru', 'hidden': 64})
    """

    kind: str
    name: str
    arguments: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SeqkitError(f"a layer is a {', '.join(KINDS)}, not {self.kind!r}")
        check_spec(self.kind, self.spec)

    @property
    def spec(self) -> dict:
        """The block spec a config would hold: ``{"name": ..., **arguments}``."""
        return {"name": self.name, **self.arguments}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"Layer({self.kind} {self.name}{': ' + arguments if arguments else ''})"


class Sequential:
    """A front-end, a back-end and a head, trained like a Keras model.

    Args:
        blocks: a front-end, a back-end and a head, in order, each a `Layer` from `seqkit.layers`:
            ``[layers.Segmenter(seg_len=24), layers.GRU(hidden=64), layers.Forecast()]``.

    Example:
        >>> from seqkit import layers
        >>> model = Sequential([layers.Segmenter(seg_len=24, dim=32), layers.GRU(hidden=32), layers.Forecast()])
        >>> model.compile(optimizer="adam", lr=1e-3)
        >>> x, y = torch.randn(16, 96, 3), torch.randn(16, 24, 3)
        >>> history = model.fit((x, y), epochs=2, batch_size=8, enable_progress_bar=False)
        >>> len(history.epochs), tuple(model.predict(x[:2]).shape)
        (2, (2, 24, 3))
    """

    def __init__(self, blocks: Sequence[Layer]):
        if len(blocks) != 3 or [getattr(b, "kind", None) for b in blocks] != list(KINDS):
            kinds = [b.kind if isinstance(b, Layer) else type(b).__name__ for b in blocks]
            raise SeqkitError(f"Sequential takes a front-end, a back-end and a head, in that order "
                              f"(seqkit.layers names them); got {kinds}")
        self.spec = {b.kind: b.spec for b in blocks}
        self.train_settings = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant"}
        self.model: SeqModel | None = None
        self.dims: dict = {}
        self.info: dict = {}
        self.task: Task | None = None

    def compile(self, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                schedule: str = "constant") -> None:
        """Choose the optimizer (adam, adamw, sgd), learning rate, weight decay and schedule."""
        self.train_settings = {"optimizer": optimizer, "lr": lr, "weight_decay": weight_decay, "schedule": schedule}
        if self.model is not None:
            self.task = self._new_task()

    def fit(self, data, validation_data=None, epochs: int = 1, batch_size: int = 32, **trainer) -> History:
        """Train for `epochs`; returns the per-epoch history (losses, learning rate, seconds).

        Args:
            data: a data module (``SeriesData``, ``SpeechData``, ``TextData``), a DataLoader of
                batch dicts, or a tuple of tensors: ``(inputs, targets)`` with targets
                (N, H, C) to forecast or (N,) class ids.
            validation_data: the same kinds (ignored for a data module, which has its own).
            epochs: passes over the training data.
            batch_size: for tensors only.
            **trainer: any ``lightning.Trainer`` argument (``accelerator="gpu"``, ``precision``, ...).
        """
        module, train, val = self._loaders(data, validation_data, batch_size)
        self.build(**(module.dims if module is not None else _tensor_dims(data)))
        if module is not None:
            self.info = {**self.info, **module.info}
            self.task = self._new_task()
        run_dir = Path(trainer.pop("run_dir", None) or tempfile.mkdtemp(prefix="seqkit-fit-"))
        settings = {"max_epochs": epochs, "num_sanity_val_steps": 0, "enable_model_summary": False, **trainer}
        self.trainer = make_trainer(settings, run_dir if val is not None or module is not None else None)
        if module is not None:
            self.trainer.fit(self.task, datamodule=module)
        else:
            self.trainer.fit(self.task, train_dataloaders=train, val_dataloaders=val)
        return History(history(self.trainer))

    def build(self, **dims) -> SeqModel:
        """Build the blocks for data of these sizes (`fit` does it on first use)."""
        if self.model is None or dims != self.dims:
            self.dims = dict(dims)
            self.model = build_model(self.spec, **dims)
            self.info = {"recipe": "sequential", "dims": self.dims,
                         "config": {"model": self.spec, "train": self.train_settings}}
            self.task = self._new_task()
        return self.model

    def evaluate(self, data, batch_size: int = 32) -> dict[str, float]:
        """The head's test metrics (MSE/MAE, WER/CER, accuracy, bits per character ...) on `data`."""
        model = self._built()
        module, loader, _ = self._loaders(data, None, batch_size, test=True)
        self.task = Task(model, **self.train_settings, info=self.info)
        trainer = make_trainer({"enable_progress_bar": False, "enable_model_summary": False}, None)
        where = {"datamodule": module} if module is not None else {"dataloaders": loader}
        return run_test(trainer, self.task, **where)

    def predict(self, inputs: Tensor | dict, lengths: Tensor | None = None) -> Tensor:
        """The model's outputs for a batch (a tensor, or a batch dict with ``inputs``)."""
        model = self._built().eval()
        if isinstance(inputs, dict):
            inputs, lengths = inputs["inputs"], inputs.get("input_lengths")
        with torch.no_grad():
            return model(inputs, lengths)[0]

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint that `Sequential.load` (and `seqkit.load_model`) read back."""
        return save_model(self._built(), self.info, path)

    @classmethod
    def load(cls, path: str | Path) -> Sequential:
        """A `Sequential` with the blocks, sizes and weights of a checkpoint it (or a recipe) saved."""
        model, info = load_model(path)
        spec = info["config"]["model"]
        sequential = cls([Layer(kind, spec[kind]["name"], {k: v for k, v in spec[kind].items() if k != "name"})
                          for kind in KINDS])
        sequential.train_settings = dict(info["config"].get("train", sequential.train_settings))
        sequential.model, sequential.dims, sequential.info = model, dict(info["dims"]), dict(info)
        return sequential

    def _built(self) -> SeqModel:
        if self.model is None:
            raise SeqkitError("the model is not built yet: call fit() first (or build(**dims))")
        return self.model

    def _new_task(self) -> Task:
        return Task(self.model, **self.train_settings, info=self.info)

    def _loaders(self, data, validation_data, batch_size: int, test: bool = False):
        if isinstance(data, L.LightningDataModule):
            return data, None, None
        return None, _loader(data, batch_size, shuffle=not test), (
            _loader(validation_data, batch_size, shuffle=False) if validation_data is not None else None)


class History:
    """Per-epoch records of `Sequential.fit`: ``epochs`` (one dict per epoch) and ``history``
    (Keras's shape: one list per metric)."""

    def __init__(self, epochs: list[dict]):
        self.epochs = epochs
        self.history = {k: [e.get(k) for e in epochs] for k in sorted({k for e in epochs for k in e})}


class _Tensors(Dataset):
    def __init__(self, inputs: Tensor, targets: Tensor):
        if len(inputs) != len(targets):
            raise SeqkitError(f"inputs and targets differ in length: {len(inputs)} and {len(targets)}")
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict:
        target = self.targets[i]
        if target.dim() == 0:  # a class id: one unit per sequence
            return {"inputs": self.inputs[i], "targets": target.view(1), "target_lengths": torch.tensor(1)}
        return {"inputs": self.inputs[i], "targets": target}


def _loader(data, batch_size: int, shuffle: bool) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        return DataLoader(_Tensors(*data), batch_size=batch_size, shuffle=shuffle)
    raise SeqkitError(f"fit/evaluate take a data module, a DataLoader or a tuple (inputs, targets) of tensors, "
                      f"not {type(data).__name__}")


def _tensor_dims(data) -> dict:
    if isinstance(data, DataLoader):
        raise SeqkitError("with a DataLoader, call build(**dims) first (e.g. in_dim, pred_len, vocab_size)")
    inputs, targets = data
    if targets.dim() == 1:  # class ids: as many classes as the largest id + 1
        return {"in_dim": inputs.shape[-1] if inputs.dim() == 3 else 1, "vocab_size": int(targets.max()) + 1}
    return {"in_dim": inputs.shape[-1], "channels": targets.shape[-1], "seq_len": inputs.shape[1],
            "pred_len": targets.shape[1]}


def _layer(kind: str, name: str):
    cls = TABLES[kind][name]

    def make(**arguments) -> Layer:
        return Layer(kind, name, arguments)

    make.__name__ = cls.__name__
    make.__doc__ = f"The `{name}` {kind} ({cls.__name__}) for `Sequential`, with its settable arguments."
    return make


def layers_namespace() -> dict:
    """One `Layer`-making function per registered block, named like its class (GRU, CTC, ...)."""
    return {TABLES[kind][name].__name__: _layer(kind, name) for kind in KINDS for name in TABLES[kind]}
