"""Sampling from a language model: top-k, temperature and seeds, prompts outside the alphabet."""

from __future__ import annotations

import pytest
import torch

from seqkit.data.tokenizers import PieceTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.sampling import generate, sample, top_k_filter

from helpers import LM_SPEC


def test_top_k_leaves_exactly_k_tokens():
    torch.manual_seed(0)
    logits = torch.randn(5, 65)
    kept = top_k_filter(logits, 7)
    assert (torch.isfinite(kept).sum(-1) == 7).all()
    assert torch.equal(kept.topk(7).indices.sort().values, logits.topk(7).indices.sort().values)
    generator = torch.Generator().manual_seed(0)
    draws = {int(sample(logits[0], 1.0, 3, generator)) for _ in range(300)}
    assert draws <= set(logits[0].topk(3).indices.tolist()) and len(draws) > 1


def test_temperature_towards_zero_is_greedy_and_the_seed_fixes_the_text(char_ids):
    tokenizer, _ = char_ids
    torch.manual_seed(0)
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    greedy = "".join(generate(model, tokenizer, "ROMEO:", 60, temperature=0.0))
    cold = "".join(generate(model, tokenizer, "ROMEO:", 60, temperature=1e-4, seed=3))
    assert cold == greedy and len(greedy) == 60
    # Stepping with the carried state gives what re-reading the whole text gives.
    ids = tokenizer.encode("ROMEO:" + greedy)
    with torch.no_grad():
        model.reset_state()
        logits, _ = model(torch.tensor([ids[:-1]]))
    assert logits[0, 5:].argmax(-1).tolist() == ids[6:]
    first = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=1))
    again = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=1))
    other = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=2))
    assert first == again and first != other


def test_prompt_outside_the_alphabet_is_a_clear_error_for_characters_only(char_ids, shakespeare):
    tokenizer, _ = char_ids
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    with pytest.raises(SeqkitError, match="character '€' is not in the model's alphabet"):
        next(generate(model, tokenizer, "ROMEO €", 5))
    pieces = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    model = build_model(LM_SPEC, vocab_size=pieces.vocab_size, in_dim=pieces.vocab_size)
    assert len("".join(generate(model, pieces, "ROMEO €", 5, seed=0))) > 0  # € becomes the unknown piece
