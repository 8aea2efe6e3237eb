"""Shallow fusion: an RNN language model scores the prefixes of the CTC beam search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqkit.blocks.softmax import LanguageModelHead
from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, describe


class LanguageModelScorer:
    """Log-probabilities of the next unit after each prefix of a CTC beam, from a language model.

    The beam search adds ``weight * log P_LM(unit | prefix)`` whenever it extends a prefix by a
    unit, and ``weight * log P_LM(end | prefix)`` to each finished hypothesis (the end of an
    utterance is a newline: the language model is trained on transcripts, one per line). The
    language model reads each prefix once: its state after a prefix is kept and extended by one
    unit for the longer prefixes, all the beam's new prefixes in one batch.

    Args:
        model: a language model with a stateful-capable recurrent back-end (`lstm`, `gru`, `rnn`).
        tokenizer: the language model's tokenizer.
        units: the speech model's units as text, by unit id; each must be one token of the LM.
        weight: the language model's weight in the beam's scores.
    """

    def __init__(self, model: SeqModel, tokenizer, units: list[str], weight: float = 0.3):
        if not hasattr(model.backend, "stateful"):
            raise SeqkitError(f"LM fusion needs a recurrent language model (lstm, gru, rnn), "
                              f"not {type(model.backend).__name__}")
        self.model, self.weight = model.eval(), weight
        lm_ids = []
        for unit in units:
            ids = _encode(tokenizer, unit)
            if len(ids) != 1:
                raise SeqkitError(f"the language model has no single token for the speech unit {unit!r}: "
                                  f"train it on the speech model's units (its training transcripts)")
            lm_ids.append(ids[0])
        self.unit_ids = torch.tensor(lm_ids)
        end = _encode(tokenizer, "\n")
        if len(end) != 1:
            raise SeqkitError("the language model has no newline token to mark the end of an utterance: "
                              "train it on transcripts written one per line")
        self.end_id = end[0]
        self.cache: dict[tuple, tuple] = {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, units: list[str], weight: float = 0.3) -> LanguageModelScorer:
        from seqkit.checkpoint import load_model, resolve
        from seqkit.data.tokenizers import tokenizer_from_data

        model, info = load_model(resolve(path))
        if "tokenizer" not in info or not isinstance(model.head, LanguageModelHead):
            raise SeqkitError(f"{path} is {describe(model)}, not a language model")
        return cls(model, tokenizer_from_data(info["tokenizer"]), units, weight)

    def reset(self) -> None:
        """Forget the prefixes of the last utterance."""
        self.cache = {}

    def prepare(self, prefixes) -> None:
        """Read every prefix not seen yet (each extends a seen one by one unit), in one batch."""
        if () not in self.cache:
            self._step([None], torch.tensor([self.end_id]), [()])  # an utterance starts after a newline
        todo = [p for p in prefixes if p not in self.cache]
        if todo:
            states = [self.cache[p[:-1]][0] for p in todo]
            tokens = self.unit_ids[[p[-1] - 1 for p in todo]]  # class c is unit c - 1
            self._step(states, tokens, todo)

    def unit_scores(self, prefix: tuple) -> np.ndarray:
        """Weighted log-probabilities of each class after `prefix` (0 for the blank, class 0)."""
        return self.cache[prefix][1]

    def end_score(self, prefix: tuple) -> float:
        return self.cache[prefix][2]

    def _step(self, states: list, tokens: torch.Tensor, prefixes: list[tuple]) -> None:
        backend = self.model.backend
        stateful = backend.stateful
        backend.stateful = True
        try:
            backend.state = None if states[0] is None else _stack(states)
            with torch.no_grad():
                logits, _ = self.model(tokens.view(-1, 1))  # (N, 1) -> (N, 1, V)
            log_probs = logits[:, -1].float().log_softmax(-1)  # (N, V)
            new_states = backend.state
        finally:
            backend.stateful, backend.state = stateful, None
        units = (self.weight * log_probs[:, self.unit_ids]).numpy()  # (N, units)
        ends = (self.weight * log_probs[:, self.end_id]).tolist()
        for k, prefix in enumerate(prefixes):
            scores = np.concatenate([[0.0], units[k]])  # the blank costs nothing
            self.cache[prefix] = (_pick(new_states, k), scores, ends[k])


def _encode(tokenizer, text: str) -> list[int]:
    try:
        return tokenizer.encode(text)
    except SeqkitError:
        return []


def _stack(states: list) -> list:
    """Per-layer states of single sequences -> per-layer states of a batch (along dim 1)."""
    layers = []
    for layer in range(len(states[0])):
        first = states[0][layer]
        if isinstance(first, tuple):
            layers.append(tuple(torch.cat([s[layer][j] for s in states], dim=1) for j in range(len(first))))
        else:
            layers.append(torch.cat([s[layer] for s in states], dim=1))
    return layers


def _pick(state: list, k: int) -> list:
    """The per-layer state of batch row k."""
    return [tuple(t[:, k:k + 1] for t in s) if isinstance(s, tuple) else s[:, k:k + 1] for s in state]
