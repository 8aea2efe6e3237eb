"""LM fusion into the CTC beam search: the scorer's numbers, its effect on a hand-made posterior,
and the whole path: speech run -> its transcripts -> a language model -> fused decoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import seqkit as sk
from seqkit.blocks.ctc import prefix_beam_search
from seqkit.data.tokenizers import CharTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.speech.fusion import LanguageModelScorer

from helpers import ROOT, run_cli

UNITS = list(" efghinorstuvwxz")  # the letters of the digit words, and a space
LM_SPEC = {"frontend": {"name": "embedding", "dim": 12},
           "backend": {"name": "gru", "hidden": 12, "layers": 2, "stateful": True},
           "head": {"name": "softmax"}}


def language_model(seed: int = 0):
    tokenizer = CharTokenizer(["\n", *UNITS])
    torch.manual_seed(seed)
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size).eval()
    return model, tokenizer


def test_scorer_gives_the_weighted_log_probabilities_of_reading_the_whole_prefix():
    model, tokenizer = language_model()
    scorer = LanguageModelScorer(model, tokenizer, UNITS, weight=0.5)
    prefixes = [(), (3,), (3, 7), (3, 7, 7), (5,)]  # classes: unit u is class u + 1
    for prefix in prefixes:
        scorer.prepare([prefix])
    for prefix in prefixes:
        text = "\n" + "".join(UNITS[c - 1] for c in prefix)
        with torch.no_grad():
            model.reset_state()
            logits, _ = model(torch.tensor([tokenizer.encode(text)]))
        expected = 0.5 * logits[0, -1].log_softmax(-1)
        unit_ids = [tokenizer.encode(u)[0] for u in UNITS]
        assert np.allclose(scorer.unit_scores(prefix)[1:], expected[unit_ids].numpy(), atol=1e-5)
        assert scorer.unit_scores(prefix)[0] == 0.0  # the blank is the acoustic model's alone
        assert math.isclose(scorer.end_score(prefix), float(expected[tokenizer.encode("\n")[0]]), abs_tol=1e-5)


def test_weight_zero_leaves_the_beam_search_unchanged():
    model, tokenizer = language_model()
    scorer = LanguageModelScorer(model, tokenizer, UNITS, weight=0.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        logits = rng.normal(size=(30, len(UNITS) + 1)) * 3
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        assert prefix_beam_search(log_probs, 6, scorer=scorer) == prefix_beam_search(log_probs, 6)


def test_the_language_model_decides_between_units_the_audio_cannot_tell_apart():
    model, tokenizer = language_model()
    o, t = UNITS.index("o") + 1, UNITS.index("t") + 1
    probs = np.full((3, len(UNITS) + 1), 1e-4)
    probs[0, 0] = probs[2, 0] = 1.0  # blank, then 'o' or 't', then blank
    probs[1, o], probs[1, t] = 0.45, 0.55  # the audio slightly prefers 't'
    log_probs = np.log(probs / probs.sum(-1, keepdims=True))
    assert prefix_beam_search(log_probs, 4) == [t]
    with torch.no_grad():
        model.head.bias[tokenizer.encode("o")[0]] = 8.0  # a language model that expects 'o' after anything
    fused = prefix_beam_search(log_probs, 4, scorer=LanguageModelScorer(model, tokenizer, UNITS, weight=0.3))
    assert fused == [o]


def test_units_the_language_model_lacks_are_refused():
    model, tokenizer = language_model()
    with pytest.raises(SeqkitError, match="no single token for the speech unit 'q'"):
        LanguageModelScorer(model, tokenizer, [*UNITS, "q"])
    no_newline = CharTokenizer(UNITS)
    model = build_model(LM_SPEC, vocab_size=no_newline.vocab_size, in_dim=no_newline.vocab_size)
    with pytest.raises(SeqkitError, match="no newline token"):
        LanguageModelScorer(model, no_newline, UNITS)


@pytest.fixture(scope="module")
def speech_and_language_runs(tmp_path_factory, data_root, asr_run):
    """A debug speech run, a language model trained on its transcripts, and a speech run fusing it.

    The speech run is the session's asr_run (trained with these very settings), linked as asr/."""
    base = tmp_path_factory.mktemp("fusion")
    debug = ["-c", ROOT / "configs/debug.yaml", "data.train_utterances=96", "data.eval_utterances=32"]
    (base / "asr").symlink_to(asr_run, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/lm", "-c", ROOT / "configs/debug.yaml",
                               f"data.path={base / 'asr/train_transcripts.txt'}", "data.bptt=32",
                               "model.frontend.dim=32", "model.backend.hidden=32", f"run_dir={base / 'lm'}")
        assert code == 0, err
        code, _, err = run_cli("run", ROOT / "recipes/digits", *debug, f"decode.lm={base / 'lm'}",
                               f"run_dir={base / 'asr_lm'}")
        assert code == 0, err
    return base


def test_speech_run_writes_its_training_transcripts(speech_and_language_runs):
    lines = (speech_and_language_runs / "asr/train_transcripts.txt").read_text().splitlines()
    assert len(lines) == 96  # one epoch of 96 utterances
    assert all(1 <= len(line.split()) <= 7 and set(line) <= set(UNITS) for line in lines)


def test_recipe_reports_fused_scores_beside_the_plain_ones(speech_and_language_runs):
    metrics = json.loads((speech_and_language_runs / "asr_lm/metrics.json").read_text())
    assert set(metrics["test_lm"]) == {"wer_beam", "cer_beam"} and set(metrics["val_lm"]) == {"wer_beam", "cer_beam"}
    assert set(metrics["test"]) == {"wer", "cer", "wer_beam", "cer_beam"}


def test_transcribe_with_a_language_model(speech_and_language_runs, data_root):
    wav = data_root / "fsdd/recordings/3_lucas_1.wav"
    runs = speech_and_language_runs
    code, out, err = run_cli("transcribe", runs / "asr", wav, "--beam", "4", "--lm", runs / "lm", "--json")
    assert code == 0, err
    assert set(json.loads(out)["text"]) <= set(UNITS)
    code, _, err = run_cli("transcribe", runs / "asr", wav, "--lm", runs / "lm")
    assert code == 2 and "give --beam 2 or more" in err
    code, _, err = run_cli("transcribe", runs / "asr", wav, "--beam", "4", "--lm", runs / "asr")
    assert code == 2 and "not a language model" in err


def test_scorer_from_a_real_language_model_checkpoint(speech_and_language_runs):
    scorer = sk.LanguageModelScorer.from_checkpoint(speech_and_language_runs / "lm", UNITS, 0.3)
    scorer.prepare([()])
    assert scorer.unit_scores(()).shape == (len(UNITS) + 1,)
