"""Perplexity is exactly exp(mean negative log-likelihood per token, <eos> included) over the
whole stream: a hand-built model whose next-word probabilities are known, on a tiny corpus."""

from __future__ import annotations

import math

import pytest
import torch

import seqkit as sk

CORPUS = {"train": "the cat sat\nthe dog sat\nthe cat ran\n", "valid": "the dog ran\n",
          "test": "the cat sat on the dog\nthe end\n"}


@pytest.mark.parametrize("streams", [1, 2])
def test_perplexity_is_exp_of_the_mean_nll_per_token(tmp_path, streams):
    for name, text in CORPUS.items():
        (tmp_path / f"{name}.txt").write_text(text)
    data = sk.TextData(str(tmp_path), units="words", batch_size=2, bptt=3, eval_batch_size=streams)
    words = data.tokenizer.words
    assert words[0] == "the" and {"<unk>", "<eos>"} <= set(words)
    model = sk.build_model({"frontend": {"name": "embedding", "dim": 4},
                            "backend": {"name": "lstm", "hidden": 4, "stateful": True},
                            "head": {"name": "softmax", "tie": False}}, **data.dims)
    # Whatever it reads, the model gives word k the probability p[k]: zero output weights, the
    # log-probabilities as the bias.
    p = torch.arange(1.0, len(words) + 1)
    p /= p.sum()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(p.log())
    task = sk.Task(model, info={"config": {}, "dims": data.dims})
    trainer = sk.make_trainer({"accelerator": "cpu", "logger": False, "enable_progress_bar": False,
                               "enable_model_summary": False})
    scores = sk.run_test(trainer, task, dataloaders=data.test_dataloader())

    # By hand: the test text's tokens (unknown words as <unk>, <eos> after each line), each
    # stream's first token predicted by nothing; the rest scored with p.
    tokens = [w if w in words else "<unk>" for line in CORPUS["test"].splitlines() for w in line.split() + ["<eos>"]]
    assert len(tokens) == 10 and tokens.count("<unk>") == 2  # 'on' and 'end' are not training words
    per_stream = (len(tokens) - 1) // streams
    targets = [t for s in range(streams) for t in tokens[s * per_stream + 1: (s + 1) * per_stream + 1]]
    nll = -sum(math.log(p[words.index(t)]) for t in targets) / len(targets)
    assert scores["loss"] == pytest.approx(nll, rel=1e-6)
    assert scores["perplexity"] == pytest.approx(math.exp(nll), rel=1e-6)
    assert len(targets) == 9 - 9 % streams
