"""CTC decoding: greedy and beam search, scoring given choices over all alignments, the lexicon-constrained beam."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seqkit as sk
from seqkit.blocks.ctc import beam_search, greedy, prefix_beam_search
from seqkit.data.fsdd import DIGITS
from seqkit.errors import SeqkitError


def test_beam_of_one_equals_greedy_and_the_beam_finds_the_best_labelling():
    torch.manual_seed(0)
    # Posteriors as a trained model gives them: one class clearly ahead in every frame.
    best = torch.randint(0, 6, (4, 30))
    log_probs = (torch.nn.functional.one_hot(best, 6) * 4.0 + torch.randn(4, 30, 6)).log_softmax(-1)
    lengths = torch.tensor([30, 25, 12, 1])
    assert beam_search(log_probs, lengths, beam=1) == greedy(log_probs, lengths)
    model = sk.CTC(in_dim=4, vocab_size=5)
    assert model.decode(log_probs, lengths, beam=1) == [[c - 1 for c in row] for row in greedy(log_probs, lengths)]
    # Two frames, P(blank) = 0.6 each: the best path is "" (0.36), but "a" sums to 0.64.
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(torch.from_numpy(lp)[None], torch.tensor([2])) == [[]]
    assert prefix_beam_search(lp, beam=4) == [1]
    # "a a" needs a blank between the two a's: a, blank, a beats a held over three frames.
    lp = np.log(np.array([[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]))
    assert prefix_beam_search(lp, beam=4) == [1, 1]


def test_choose_scores_each_choice_over_all_its_alignments():
    import itertools

    torch.manual_seed(0)
    log_probs = torch.randn(2, 5, 4).log_softmax(-1)  # blank + units 0, 1, 2
    lengths = torch.tensor([5, 3])
    choices = [[0], [1, 0], [2, 2], [0, 1, 2]]
    picks, scores = sk.CTC.choose(log_probs, lengths, choices)
    for b, n in enumerate(lengths.tolist()):
        total = {tuple(c): 0.0 for c in choices}  # every path of n frames, collapsed: repeats, then blanks
        for path in itertools.product(range(4), repeat=n):
            units = tuple(c - 1 for c, _ in itertools.groupby(path) if c)
            if units in total:
                total[units] += float(sum(log_probs[b, t, c] for t, c in enumerate(path)).exp())
        best = max(total, key=total.get)
        assert choices[picks[b]] == list(best)
        assert scores[b] == pytest.approx(np.log(total[best]), abs=1e-4)
    # Three frames cannot hold "0 1 2" and a blank-separated "2 2" needs three: -inf, never picked.
    _, short = sk.CTC.choose(log_probs[:, :2], torch.tensor([2, 2]), [[2, 2], [0, 1, 2]])
    assert short == [-np.inf, -np.inf]


def test_lexicon_beam_spells_only_its_words_and_repairs_a_misspelling():
    from seqkit.blocks.ctc import Lexicon
    from seqkit.data.tokenizers import CharTokenizer, WordTokenizer

    tokenizer = CharTokenizer.fit(DIGITS)  # " efghinorstuvwxz"
    lexicon = Lexicon.of(DIGITS, tokenizer)
    # Frames spelling t-h-r-e, then the second e a little less likely than a blank: the free
    # beam drops it ("thre"), the lexicon's beam must end on a whole word, "three".
    spelt = [tokenizer.encode(c)[0] + 1 for c in "thre"] + [0, tokenizer.encode("e")[0] + 1]
    probs = np.full((6, tokenizer.vocab_size + 1), 0.02)
    for t, c in enumerate(spelt):
        probs[t, c] = 0.9
    probs[5, 0], probs[5, spelt[-1]] = 0.6, 0.3
    lp = np.log(probs / probs.sum(1, keepdims=True))
    assert tokenizer.decode([c - 1 for c in prefix_beam_search(lp, beam=8)]) == "thre"
    assert tokenizer.decode([c - 1 for c in prefix_beam_search(lp, beam=8, lexicon=lexicon)]) == "three"
    # Random posteriors: every word of every hypothesis is a digit word (or the hypothesis is empty).
    torch.manual_seed(0)
    log_probs = torch.randn(6, 40, tokenizer.vocab_size + 1).mul(3).log_softmax(-1)
    for row in beam_search(log_probs, torch.full((6,), 40), beam=8, lexicon=lexicon):
        text = tokenizer.decode([c - 1 for c in row])
        assert text == "" or set(text.split(" ")) <= set(DIGITS), text
    # A frame sure of a letter no hypothesis may take next ("o", "n", then "x": blank and all else
    # below the prune floor): the hypotheses wait through it on the blank instead of all dying.
    sure = np.full((4, tokenizer.vocab_size + 1), -30.0)
    for t, c in enumerate("onxe"):
        sure[t, tokenizer.encode(c)[0] + 1] = 0.0
    assert tokenizer.decode([c - 1 for c in prefix_beam_search(sure, beam=8, lexicon=lexicon)]) == "one"
    # Word units are words already: the lexicon of all ten changes nothing.
    words = WordTokenizer(DIGITS)
    log_probs = torch.randn(4, 30, 11).mul(3).log_softmax(-1)
    lengths = torch.tensor([30, 25, 12, 3])
    assert (beam_search(log_probs, lengths, beam=6, lexicon=Lexicon.of(DIGITS, words))
            == beam_search(log_probs, lengths, beam=6))
    for words_given, message in [([], "give one or more words"), (["one two"], "without spaces"),
                                 (["eleven", "one"], "character 'l' is not in the model's alphabet")]:
        with pytest.raises(SeqkitError, match=message):
            Lexicon.of(words_given, tokenizer)
    assert Lexicon.of(["eleven", "one"], tokenizer, drop=True).words == {"one"}  # what the units can spell
    with pytest.raises(SeqkitError, match="can spell none of"):
        Lexicon.of(["eleven"], tokenizer, drop=True)
