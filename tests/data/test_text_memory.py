"""Memory of the language-model data path: the corpus as a compact array, and long prompts read in pieces."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

import seqkit.data.tokenizers as tokenizers
from seqkit import sampling
from seqkit.data.text import Streams, TextData
from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.sampling import generate

from helpers import LM_SPEC


def test_building_text_data_holds_a_few_bytes_per_character_and_gives_the_same_batches(tmp_path, shakespeare):
    text = shakespeare * 4  # about 4.5 MB
    path = tmp_path / "big.txt"
    path.write_text(text)
    tracemalloc.start()
    try:
        data = TextData(path, batch_size=32, bptt=64)
        _, peak = tracemalloc.get_traced_memory()  # Python objects and numpy arrays (torch's are not traced)
    finally:
        tracemalloc.stop()
    assert peak / len(text) < 8  # was about 19 here (lists of the whole corpus), 27 with torch's tensors
    streams = data.streams["train"]
    assert streams.inputs.dtype == np.int16 and streams.inputs.base is streams.targets.base  # views of one array
    # The same batches as the ids of the plain encoder, bit for bit.
    train = data.tokenizer.encode(data.texts["train"])
    reference = Streams(torch.tensor(train).tolist(), batch_size=32, bptt=64)
    for k in (0, 1, len(streams) // 2, len(streams) - 1):
        batch, expected = streams[k], reference[k]
        assert batch["inputs"].dtype == batch["targets"].dtype == torch.long
        assert torch.equal(batch["inputs"], expected["inputs"]) and torch.equal(batch["targets"], expected["targets"])
        assert batch["chars"] == expected["chars"] == batch["targets"].numel()
    assert len(streams) == len(reference) and streams.tokens == reference.tokens


def test_corpus_encoding_in_chunks_gives_the_ids_and_spans_of_the_whole_text(monkeypatch, shakespeare):
    text = shakespeare[:40_000] + "\nÆsop's ½ fable ~ \n\n  x\nzz ÆÆ"  # characters the tokenizer never saw
    monkeypatch.setattr(tokenizers, "CHUNK", 3000)
    pieces = PieceTokenizer.fit(shakespeare[:20_000].splitlines(), vocab_size=200, exact=True)
    ids, spans = pieces.encode_corpus(text)
    whole_ids, whole_spans = pieces.encode_spans(text)
    assert ids.tolist() == whole_ids and spans.tolist() == whole_spans and ids.dtype == np.int16
    chars = CharTokenizer.fit([text])
    assert chars.encode_corpus(text)[0].tolist() == chars.encode(text)
    small = CharTokenizer.fit([shakespeare[:40_000]])
    with pytest.raises(SeqkitError) as plain:
        small.encode(text)
    with pytest.raises(SeqkitError, match="'Æ' is not in the model's alphabet") as compact:
        small.encode_corpus(text)
    assert str(compact.value) == str(plain.value)  # the plain encoder's one-line error, for the first one


def test_a_long_prompt_is_read_in_bounded_pieces_and_gives_what_reading_it_at_once_gives(monkeypatch, shakespeare):
    tokenizer = CharTokenizer.fit([shakespeare])
    torch.manual_seed(0)
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    lengths = []
    model.register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[1]))
    prompt = (shakespeare * 2)[:200_000]
    text = "".join(generate(model, tokenizer, prompt, 20, temperature=0.8, seed=1))
    assert len(text) == 20 and max(lengths) <= sampling.CONTEXT  # was one call of 200,000 tokens
    assert lengths.count(sampling.CONTEXT) == 200_000 // sampling.CONTEXT  # all of it, with the state carried
    # Pieces of the prompt with the state carried continue it as the whole prompt read at once.
    short = shakespeare[:3000]
    pieces = "".join(generate(model, tokenizer, short, 40, temperature=0.8, seed=2))
    monkeypatch.setattr(sampling, "CONTEXT", 10**9)
    lengths.clear()
    whole = "".join(generate(model, tokenizer, short, 40, temperature=0.8, seed=2))
    assert max(lengths) == 3000 and whole == pieces
