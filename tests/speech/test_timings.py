"""Word timings of `seqkit transcribe`: units grouped into words for every tokenizer, the CTC alignment
of real model output, words either side of a known silence, and the --json lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torchmetrics.functional.text import word_error_rate

import seqkit as sk
from seqkit.data.audio import read_audio
from seqkit.data.fsdd import DIGITS
from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer, WordTokenizer
from seqkit.speech.timings import frame_seconds, group_words, unit_spans, unit_surfaces

from helpers import run_cli

RATE = 8000
SILENCE = 1.0  # seconds between the two utterances
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")
PAUSE = 0.15  # seconds between the two digits of each utterance


@pytest.mark.parametrize("kind", ["chars", "words", "sentencepiece"])
def test_units_group_into_the_words_of_their_text(kind):
    texts = ["one two three", "four five six seven", "eight nine zero", "two two one"]
    tokenizer = {"chars": lambda: CharTokenizer.fit(texts), "words": lambda: WordTokenizer.fit(texts),
                 "sentencepiece": lambda: PieceTokenizer.fit(texts * 20, vocab_size=24)}[kind]()
    surfaces = unit_surfaces(tokenizer)
    for text in ["nine one", "two two one zero", "seven"]:
        units = tokenizer.encode(text)
        words = group_words(units, surfaces)
        assert [w for w, _, _ in words] == text.split()
        for word, first, last in words:  # each word's units, and only they, spell it
            assert tokenizer.decode(units[first:last + 1]).strip() == word


def test_the_alignment_of_greedy_units_is_the_greedy_path(digits_run, test_recordings, join_audio):
    """The greedy path is the best of all paths, so forced_align of its units must find it again."""
    model, info = sk.load_model(digits_run / "checkpoints/best.ckpt")
    audio, _ = join_audio(test_recordings[:6], [0.3] * 6)
    with torch.no_grad():
        log_probs, lengths = model(torch.from_numpy(audio)[None, :, None], torch.tensor([len(audio)]))
    lp = log_probs[0, : lengths[0]]
    units = model.head.decode(log_probs, lengths)[0]
    assert len(units) >= 3
    path = [0] * len(lp)  # the frames of each unit's span hold its class, the others the blank
    for (start, end), unit in zip(unit_spans(lp, units), units, strict=True):
        path[start:end] = [unit + 1] * (end - start)
    assert path == lp.argmax(-1).tolist()
    assert frame_seconds(model) == pytest.approx(0.04)  # 10 ms hop, time stride 4


def test_words_fall_either_side_of_a_known_silence(digits_run, test_recordings, join_audio, spoken_word, tmp_path):
    """Two utterances of two connected digits each (one speaker's, then the next speaker's), SILENCE
    seconds apart, under the training's noise floor: every word of the first ends before the
    silence and every word of the second starts after it (to one output frame, 40 ms, the
    alignment's resolution: a frame that starts in the silence may hold a word's onset)."""
    model, _ = sk.load_model(digits_run / "checkpoints/best.ckpt")
    frame = frame_seconds(model)
    files, silences, truths = [], [], []
    for k in range(len(SPEAKERS)):
        first = [p for p in test_recordings if f"_{SPEAKERS[k]}_" in p.name][:2]
        second = [p for p in test_recordings if f"_{SPEAKERS[(k + 1) % len(SPEAKERS)]}_" in p.name][2:4]
        audio, spans = join_audio([*first, *second], [PAUSE, SILENCE, PAUSE, 0.0], seed=k)
        files.append(tmp_path / f"pair{k}.wav")
        sf.write(files[-1], audio, RATE)
        silences.append((spans[1][1], spans[2][0]))
        truths += [" ".join(map(spoken_word, first)), " ".join(map(spoken_word, second))]
    heard = []
    for result, (quiet, loud) in zip(sk.transcribe(digits_run, files), silences):
        before = [w for w in result["words"] if w["end"] <= quiet + frame]
        after = [w for w in result["words"] if w["start"] >= loud - frame]
        assert before and after and before + after == result["words"], (quiet, loud, result)
        heard += [" ".join(w["word"] for w in before), " ".join(w["word"] for w in after)]
    assert float(word_error_rate(heard, truths)) <= 0.25, (heard, truths)  # the words are right too (measured: 0.05)


def test_json_lines_carry_words_in_order_within_the_file(digits_run, test_recordings, join_audio, tmp_path):
    audio, _ = join_audio(test_recordings[20:25], [0.4] * 5)
    sf.write(tmp_path / "five.wav", audio, RATE)
    files = [*test_recordings[:3], tmp_path / "five.wav"]
    code, out, err = run_cli("transcribe", digits_run, *files, "--json", "--beam", "4", "--lexicon", ",".join(DIGITS))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    for line, path in zip(lines, files):
        seconds = len(read_audio(path)) / RATE
        words = line["words"]
        assert [w["word"] for w in words] == line["text"].split() and set(line["text"].split()) <= set(DIGITS)
        assert all(set(w) == {"word", "start", "end"} for w in words)
        assert all(0 <= w["start"] < w["end"] <= seconds for w in words), (seconds, words)
        assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:])), words
    assert len(lines[-1]["words"]) >= 3
    # --choices: the chosen transcript aligned (one digit word per isolated recording).
    code, out, err = run_cli("transcribe", digits_run, *files[:3], "--json", "--choices", ",".join(DIGITS))
    assert code == 0, err
    for line in map(json.loads, out.splitlines()):
        assert [w["word"] for w in line["words"]] == [line["text"]] and line["log_likelihood"] < 0
        assert 0 <= line["words"][0]["start"] < line["words"][0]["end"]


def test_a_word_classifier_s_word_spans_the_whole_file(tmp_path, data_root, test_recordings):
    from helpers import ROOT

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, _, err = run_cli("run", ROOT / "recipes/kws", "-c", ROOT / "configs/debug.yaml",
                               "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
                               "trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
                               f"run_dir={tmp_path / 'kws'}")
    assert code == 0, err
    results = sk.transcribe(tmp_path / "kws", test_recordings[:2])
    for result, path in zip(results, test_recordings):
        assert result["words"] == [{"word": result["text"], "start": 0.0,
                                    "end": round(len(read_audio(path)) / RATE, 3)}]
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(read_audio(test_recordings[0]), 5), RATE)
    result = sk.transcribe(tmp_path / "kws", [long], window=1.0)[0]
    assert "--window 1" in result["error"] and str(long) in result["error"] and "text" not in result
