"""The adaptive softmax head: its training loss is the log-probability it assigns, its distribution sums to
one, it never computes all V scores while training, and a word-level model with it learns real text (PTB)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from seqkit.blocks import build
from seqkit.blocks.adaptive import AdaptiveSoftmax
from seqkit.blocks.ctc import CTC
from seqkit.blocks.softmax import LanguageModelHead, Softmax
from seqkit.data.text import Streams
from seqkit.data.tokenizers import CharTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.sampling import generate
from seqkit.speech.fusion import LanguageModelScorer

from helpers import one_line

V, D = 300, 32


def head_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    head = AdaptiveSoftmax(in_dim=D, vocab_size=V, cutoffs=[20, 100])
    x, lengths = torch.randn(4, 15, D), torch.tensor([15, 12, 9, 1])
    targets = torch.randint(0, V, (4, 15))
    targets[1, 12:] = 10_000  # past the length: never read
    return head, x, lengths, {"targets": targets}


def test_training_loss_is_the_mean_negative_log_probability_of_the_targets():
    head, x, lengths, batch = head_and_batch()
    states, out_lengths = head(x, lengths)  # training: the states, not V scores
    assert states.shape == (4, 15, D) and torch.equal(out_lengths, lengths)
    loss = head.loss(states, lengths, batch)
    with torch.no_grad():
        log_probs = head.eval()(x, lengths)[0]  # (B, T, V)
    assert log_probs.shape == (4, 15, V)
    chosen = [log_probs[b, t, batch["targets"][b, t]] for b in range(4) for t in range(int(lengths[b]))]
    assert torch.allclose(loss, -torch.stack(chosen).mean(), atol=1e-5)
    assert torch.allclose(head.loss(log_probs, lengths, batch), loss, atol=1e-5)  # evaluation: the same loss
    torch_log_probs = head.adaptive.log_prob(x.reshape(-1, D)).view(4, 15, V)
    assert torch.allclose(log_probs, torch_log_probs)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())  # every cluster learns


def test_probabilities_over_the_vocabulary_sum_to_one():
    head, x, lengths, _ = head_and_batch(1)
    with torch.no_grad():
        log_probs, _ = head.eval()(x * 5, lengths)
    assert (log_probs.exp().sum(-1) - 1).abs().max() < 1e-5
    assert log_probs.dtype == torch.float32 and (log_probs <= 0).all()


def test_training_never_computes_all_v_log_probabilities(monkeypatch):
    head, x, lengths, batch = head_and_batch()

    def refuse(*args, **kwargs):
        raise AssertionError("the full V-way log-probabilities were computed while training")

    for module, name in ((head, "log_probs"), (head.adaptive, "log_prob"), (head.adaptive, "_get_full_log_prob")):
        monkeypatch.setattr(module, name, refuse)
    head.loss(*head(x, lengths), batch).backward()
    head.eval()
    with pytest.raises(AssertionError, match="full V-way"):  # evaluation does compute them (for sampling)
        head(x, lengths)


def test_log_probabilities_are_float32_and_normalised_under_bf16_autocast():
    head, x, lengths, batch = head_and_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = head.loss(*head(x.bfloat16(), lengths), batch)
        log_probs, _ = head.eval()(x.bfloat16(), lengths)
    assert loss.dtype == log_probs.dtype == torch.float32
    assert (log_probs.exp().sum(-1) - 1).abs().max() < 1e-5
    with torch.no_grad():
        exact, _ = head(x, lengths)
    assert (log_probs - exact).abs().max() < 0.1  # the bfloat16 scores, not their normalisation


def test_cutoffs_and_div_value_are_checked_against_the_vocabulary():
    for cutoffs in ([0, 10], [50, 20], [10, V], [10, 10], [1.5], "ab"):
        with pytest.raises(SeqkitError) as error:
            build("head", {"name": "adaptive_softmax", "cutoffs": cutoffs}, in_dim=D, vocab_size=V)
        one_line(error.value, "cutoffs", V - 1, "model.head.cutoffs")
    with pytest.raises(SeqkitError) as error:
        build("head", {"name": "adaptive_softmax", "cutoffs": [10, 20, 30], "div_value": 8.0}, in_dim=D, vocab_size=V)
    one_line(error.value, "div_value")
    assert build("head", {"name": "adaptive_softmax"}, in_dim=D, vocab_size=V).adaptive.cutoffs == [30, 120, V]


def test_language_model_heads_are_told_by_one_base_class():
    assert issubclass(Softmax, LanguageModelHead) and issubclass(AdaptiveSoftmax, LanguageModelHead)
    assert not issubclass(CTC, LanguageModelHead) and not issubclass(AdaptiveSoftmax, Softmax)


def test_sampling_and_lm_fusion_read_its_log_probabilities():
    tokenizer = CharTokenizer(list("\n abcdefgh"))
    spec = {"frontend": {"name": "embedding", "dim": 16},
            "backend": {"name": "gru", "hidden": 16, "stateful": True},
            "head": {"name": "adaptive_softmax", "cutoffs": [3]}}
    torch.manual_seed(0)
    model = build_model(spec, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    text = "".join(generate(model, tokenizer, "ab", 20, temperature=0.0))
    ids = tokenizer.encode("ab" + text)
    with torch.no_grad():
        model.reset_state()
        log_probs, _ = model(torch.tensor([ids[:-1]]))
    assert log_probs[0, 1:].argmax(-1).tolist() == ids[2:]  # greedy sampling followed the log-probabilities
    scorer = LanguageModelScorer(model, tokenizer, list("abc"), weight=1.0)
    scorer.prepare([()])
    with torch.no_grad():
        model.reset_state()
        expected, _ = model(torch.tensor([tokenizer.encode("\n")]))
    assert torch.allclose(torch.tensor(scorer.unit_scores(())[1:]).float(),
                          expected[0, -1, tokenizer.encode("abc")], atol=1e-6)


@pytest.fixture(scope="module")
def ptb_words(data_root) -> list[str]:
    """The first 6,000 words of PTB's training text, with <eos> ending each line."""
    words: list[str] = []
    with open(data_root / "ptb" / "ptb.train.txt", encoding="utf-8") as lines:
        for line in lines:
            words += line.split() + ["<eos>"]
            if len(words) >= 6000:
                return words
    return words


def test_a_word_level_model_with_it_learns_real_text(ptb_words):
    vocabulary = [w for w, _ in Counter(ptb_words).most_common()]  # most frequent first, as the clusters want
    index = {w: k for k, w in enumerate(vocabulary)}
    streams = Streams([index[w] for w in ptb_words], batch_size=8, bptt=20)
    spec = {"frontend": {"name": "embedding", "dim": 32, "dropout": 0.1},  # the LM recipe's model, one word changed
            "backend": {"name": "lstm", "hidden": 32, "layers": 2, "dropout": 0.2, "stateful": True},
            "head": {"name": "adaptive_softmax", "tie": True, "dropout": 0.2, "cutoffs": [50, 300]}}
    torch.manual_seed(0)
    model = build_model(spec, vocab_size=len(vocabulary), in_dim=len(vocabulary))
    assert isinstance(model.head, AdaptiveSoftmax) and len(vocabulary) > 1000
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(2):  # two passes over the streams, the state carried between batches
        model.reset_state()
        for k in range(len(streams)):
            batch = streams[k]
            loss = model.head.loss(*model(batch["inputs"]), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses  # nats per word
