"""Text data: TBPTT streams, sentencepiece spans and bits per character, the nanoGPT split, tokenizers."""

from __future__ import annotations

import math

import pytest
import torch

from seqkit.blocks.softmax import Softmax, TokenScores
from seqkit.data.text import Streams, TextData
from seqkit.data.tokenizers import PieceTokenizer


def test_streams_targets_are_the_inputs_shifted_and_each_batch_continues_the_last(char_ids):
    _, ids = char_ids
    streams = Streams(ids, batch_size=8, bptt=50)
    per_stream = (len(ids) - 1) // 8
    batches = [streams[k] for k in range(len(streams))]
    inputs = torch.cat([b["inputs"] for b in batches], dim=1)  # every batch, side by side
    targets = torch.cat([b["targets"] for b in batches], dim=1)
    for row in range(8):
        start = row * per_stream
        assert inputs[row].tolist() == ids[start:start + per_stream]  # one contiguous stream
        assert targets[row].tolist() == ids[start + 1:start + per_stream + 1]
    for k in range(len(batches) - 1):  # the target after batch k's last input is batch k+1's first input
        assert torch.equal(batches[k]["targets"][:, -1], batches[k + 1]["inputs"][:, 0])
    assert sum(b["chars"] for b in batches) == streams.tokens == 8 * per_stream


def test_sentencepiece_spans_cover_the_text_exactly_and_bits_per_character_convert_exactly(shakespeare):
    text = shakespeare[:3000] + "\nÆsop's ½ fable ~ \n"  # characters the training part never saw
    tokenizer = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    ids, spans = tokenizer.encode_spans(text)
    assert tokenizer.decode(ids).replace(" \u2047 ", "?") != text  # unknown pieces do not decode back...
    assert sum(spans) == len(text) and all(s >= 1 for s in spans)  # ...but every character is counted once
    assert len(ids) < len(text)
    streams = Streams(ids, batch_size=1, bptt=64, spans=spans)
    covered = len(text) - spans[0]  # every character after the first token's is a target's
    assert sum(streams[k]["chars"] for k in range(len(streams))) == covered
    torch.manual_seed(0)
    head = Softmax(in_dim=8, vocab_size=tokenizer.vocab_size)
    scores = TokenScores()
    total = 0.0
    with torch.no_grad():
        for k in range(len(streams)):
            batch = streams[k]
            logits, lengths = head(torch.randn(1, batch["inputs"].shape[1], 8), batch["input_lengths"])
            head.update(scores, logits, lengths, batch)
            total += float(torch.nn.functional.cross_entropy(logits[0].double(), batch["targets"][0],
                                                             reduction="sum"))
    result = scores.compute()  # the counts are exact; the sums of float32 losses agree to float32 precision
    assert float(result["bpc"]) == pytest.approx(total / covered / math.log(2), rel=1e-6)
    assert float(result["loss"]) == pytest.approx(total / streams.tokens, rel=1e-6)
    assert float(result["perplexity"]) == pytest.approx(math.exp(total / streams.tokens), rel=1e-6)


def test_text_data_uses_nanogpt_split_and_a_tokenizer_trained_on_training_text_only(data_root):
    data = TextData(data_root / "tinyshakespeare/input.txt", units="sentencepiece", vocab_size=300,
                    batch_size=16, bptt=64)
    assert len(data.texts["train"]) == int(len(data.texts["train"] + data.texts["val"]) * 0.9)
    assert data.dims == {"in_dim": data.tokenizer.vocab_size, "vocab_size": data.tokenizer.vocab_size}
    assert data.tokenizer.decode(data.tokenizer.encode(data.texts["val"][:500])) == data.texts["val"][:500]


def test_a_checkpoints_tokenizer_is_used_instead_of_fitting_one(data_root, shakespeare):
    pieces = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    data = TextData(data_root / "tinyshakespeare/input.txt", units="sentencepiece", vocab_size=999,
                    batch_size=16, bptt=64, tokenizer=pieces.to_data())
    assert data.tokenizer.model == pieces.model and data.dims["vocab_size"] == pieces.vocab_size
