"""Text generation from a language-model checkpoint: temperature and top-k sampling, streamed."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from seqkit.blocks.softmax import LanguageModelHead
from seqkit.data.tokenizers import line_start, tokenizer_from_data
from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, describe

log = logging.getLogger("seqkit")

CONTEXT = 1024  # tokens re-read per step by a back-end that cannot carry its state


def check_sampling(temperature: float = 1.0, top_k: int | None = None) -> None:
    """One-line error unless `temperature` is a finite number >= 0 and `top_k` is None or >= 0.

    Example:
        >>> check_sampling(float("nan"))
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: --temperature must be a finite number, 0 (greedy) or more, got nan
    """
    if not math.isfinite(temperature) or temperature < 0:
        raise SeqkitError(f"--temperature must be a finite number, 0 (greedy) or more, got {temperature}")
    if top_k is not None and top_k < 0:
        raise SeqkitError(f"--top-k must be 0 (all tokens) or more, got {top_k}")


def top_k_filter(logits: Tensor, k: int | None) -> Tensor:
    """Keep the `k` largest logits of each row and set the others to -inf (``None`` or 0 keeps all).

    Example:
        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.0]), 2).tolist()
        [-inf, 3.0, 2.0, -inf]
    """
    check_sampling(top_k=k)
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
    check_sampling(temperature, top_k)
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


def generate(model: SeqModel, tokenizer, prompt: str | None = None, length: int = 500,
             temperature: float = 1.0, top_k: int | None = None, seed: int | None = None) -> Iterator[str]:
    """Continue `prompt` by `length` tokens, yielding the new text as it is sampled.

    The prompt is read once (`CONTEXT` tokens at a time, with the state carried, so that a long one
    runs in bounded memory); then each sampled token is fed back with the back-end's state carried,
    so each step costs one token. The same `seed` gives the same text. The settings and the prompt
    are checked when this is called, before any text is sampled.

    Args:
        model: a language model (embedding front-end, softmax head).
        tokenizer: the tokenizer it was trained with.
        prompt: the text to continue (characters outside a character model's alphabet are an error;
            sentencepiece maps them to its unknown piece; a word model reads an unknown word as
            ``<unk>``, with a one-line notice, and refuses a prompt of unknown words only). None or
            empty: start where the corpus's lines start (`seqkit.data.tokenizers.line_start`: a
            newline for a character model, ``<eos>`` for a word model).
        length: tokens to generate (0 or more).
        temperature: divides the logits (finite, 0 or more); 0 always takes the most probable token.
        top_k: sample among the k most probable tokens only; None or 0: among all of them.
        seed: seed of the sampling; None draws a fresh one.
    """
    if length < 0:
        raise SeqkitError(f"--length must be 0 or more tokens, got {length}")
    check_sampling(temperature, top_k)
    start = prompt or line_start(tokenizer)
    if not start:
        raise SeqkitError("the model's units have no line start (no newline or space) to begin from; "
                          "give a prompt (--prompt) to continue")
    unknown = tokenizer.unknown_words(start) if getattr(tokenizer, "unk", None) else []
    if unknown and len(unknown) == len(set(start.split())):
        raise SeqkitError(f"no word of the prompt is in the model's vocabulary ({', '.join(unknown[:5])}); "
                          f"give a prompt with some of its {tokenizer.vocab_size} words")
    if unknown:
        log.warning("prompt: %s not in the vocabulary, read as %s", ", ".join(repr(w) for w in unknown[:10]),
                    tokenizer.unk)
    ids = tokenizer.encode(start)
    if not ids:
        raise SeqkitError("the prompt is empty after encoding; give at least one character")
    return sampled_text(model, tokenizer, ids, length, temperature, top_k, seed)


def sampled_text(model: SeqModel, tokenizer, ids: list[int], length: int, temperature: float,
                 top_k: int | None, seed: int | None) -> Iterator[str]:
    """`generate`'s stream: the text of `length` tokens sampled after the token ids `ids`."""
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    model.eval()
    # A word model's text continues the prompt's last word: decoded after it, the first new word
    # gets its space (or an <eos> its line end); other units decode on their own.
    lead = ids[-1:] if getattr(tokenizer, "kind", None) == "words" else []
    skip = len(tokenizer.decode(lead))
    produced: list[int] = []
    shown = ""
    with torch.no_grad(), carrying_state(model) as carries:
        context = ids[-CONTEXT:]  # what a back-end that cannot carry its state re-reads
        # A carried state reads the prompt CONTEXT tokens at a time, so that memory does not grow
        # with its length; else the model reads its last CONTEXT tokens, as at every later step.
        pieces = [ids[at:at + CONTEXT] for at in range(0, len(ids), CONTEXT)] if carries else [context]
        pieces = pieces if length else []
        for piece in pieces:
            logits, _ = model(torch.tensor([piece]))  # (1, T, V)
        for step in range(length):
            if step:  # the last token, with the state carried, or the context re-read
                logits, _ = model(torch.tensor([produced[-1:]] if carries else [context]))
            token = int(sample(logits[0, -1], temperature, top_k, generator))
            produced.append(token)
            context = (context + [token])[-CONTEXT:]
            text = tokenizer.decode(lead + produced)[skip:]
            if len(text) > len(shown) and not text.endswith("\ufffd"):
                yield text[len(shown):]
                shown = text
    text = tokenizer.decode(lead + produced)[skip:]
    if len(text) > len(shown):
        yield text[len(shown):]


def generate_from_checkpoint(checkpoint: str | Path, prompt: str | None = None, **settings) -> Iterator[str]:
    """`generate` with the model and tokenizer stored in a language-model checkpoint."""
    from seqkit.checkpoint import load_model, resolve

    model, info = load_model(resolve(checkpoint))
    if not isinstance(model.head, LanguageModelHead):
        raise SeqkitError(f"{checkpoint} is {describe(model)}, not a language model")
    return generate(model, tokenizer_from_data(info["tokenizer"]), prompt, **settings)
