"""Text generation from a language-model checkpoint: temperature and top-k sampling, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from seqkit.blocks.softmax import Softmax
from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, describe

CONTEXT = 1024  # tokens re-read per step by a back-end that cannot carry its state


def top_k_filter(logits: Tensor, k: int | None) -> Tensor:
    """Keep the `k` largest logits of each row and set the others to -inf (``None`` or 0 keeps all).

    Example:
        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.0]), 2).tolist()
        [-inf, 3.0, 2.0, -inf]
    """
    if not k or k >= logits.shape[-1]:
        return logits
    threshold = logits.topk(k, dim=-1).values[..., -1:]  # the k-th largest of each row
    return logits.masked_fill(logits < threshold, float("-inf"))


def sample(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
           generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row of `logits` (..., V); temperature 0 takes the most probable one.

    Example:
        >>> sample(torch.tensor([[0.1, 2.0, 0.3]]), temperature=0.0).tolist()
        [1]
    """
    if temperature < 0:
        raise SeqkitError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(top_k_filter(logits.float(), top_k) / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (..., V) -> (N, V)
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


@contextmanager
def carrying_state(model: SeqModel):
    """Make the back-end carry its state from call to call (if it can), starting afresh."""
    backend = model.backend
    stateful = getattr(backend, "stateful", None)
    if stateful is not None:
        backend.stateful = True
    model.reset_state()
    try:
        yield stateful is not None
    finally:
        if stateful is not None:
            backend.stateful = stateful
        model.reset_state()


def generate(model: SeqModel, tokenizer, prompt: str, length: int = 500, temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None) -> Iterator[str]:
    """Continue `prompt` by `length` tokens, yielding the new text as it is sampled.

    The prompt is read once; then each sampled token is fed back with the back-end's state carried,
    so each step costs one token. The same `seed` gives the same text.

    Args:
        model: a language model (embedding front-end, softmax head).
        tokenizer: the tokenizer it was trained with.
        prompt: the text to continue (characters outside a character model's alphabet are an error;
            sentencepiece maps them to its unknown piece).
        length: tokens to generate.
        temperature: divides the logits; 0 always takes the most probable token.
        top_k: sample among the k most probable tokens only.
        seed: seed of the sampling; None draws a fresh one.
    """
    if length < 0:
        raise SeqkitError(f"length must be >= 0, got {length}")
    ids = tokenizer.encode(prompt) if prompt else []
    if not ids:
        raise SeqkitError("the prompt is empty after encoding; give at least one character")
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    model.eval()
    produced: list[int] = []
    shown = ""
    with torch.no_grad(), carrying_state(model) as carries:
        window = torch.tensor([ids])  # (1, T)
        for _ in range(length):
            logits, _ = model(window)
            token = int(sample(logits[0, -1], temperature, top_k, generator))
            produced.append(token)
            if carries:
                window = torch.tensor([[token]])
            else:
                window = torch.tensor([(ids + produced)[-CONTEXT:]])
            text = tokenizer.decode(produced)
            if len(text) > len(shown) and not text.endswith("\ufffd"):
                yield text[len(shown):]
                shown = text
    text = tokenizer.decode(produced)
    if len(text) > len(shown):
        yield text[len(shown):]


def generate_from_checkpoint(checkpoint: str | Path, prompt: str, **settings) -> Iterator[str]:
    """`generate` with the model and tokenizer stored in a language-model checkpoint."""
    from seqkit.checkpoint import load_model, resolve
    from seqkit.data.tokenizers import tokenizer_from_data

    model, info = load_model(resolve(checkpoint))
    if not isinstance(model.head, Softmax):
        raise SeqkitError(f"{checkpoint} is {describe(model)}, not a language model")
    return generate(model, tokenizer_from_data(info["tokenizer"]), prompt, **settings)
