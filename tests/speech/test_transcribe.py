"""`seqkit transcribe` (and eval) on the smoke run: real files, lexicons, warps, choices, bad files, equalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

import seqkit as sk
from seqkit.data.audio import pad_waves
from seqkit.data.fsdd import DIGITS
from seqkit.errors import SeqkitError

from helpers import run_cli


def test_transcribe_real_and_resampled_stereo_files(asr_run, data_root, tmp_path):
    wavs = [data_root / "fsdd/recordings/3_lucas_1.wav", data_root / "fsdd/recordings/7_george_2.wav"]
    audio, rate = sf.read(wavs[0], dtype="float32")
    stereo = AF.resample(torch.from_numpy(audio), rate, 16000).numpy()
    stereo_path = tmp_path / "copy_16k_stereo.wav"
    sf.write(stereo_path, np.stack([stereo, 0.5 * stereo], axis=1), 16000)
    code, out, err = run_cli("transcribe", asr_run, *wavs, stereo_path, "--json", "--beam", "4")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in [*wavs, stereo_path]]
    assert all("text" in line and set(line["text"]) <= set(" abcdefghijklmnopqrstuvwxyz") for line in lines)


def test_transcribe_and_eval_with_a_lexicon(asr_run, data_root):
    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2", "0_jackson_4")]
    words = ["zero", "three", "seven"]
    code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--beam", "4", "--lexicon", ",".join(words))
    assert code == 0, err
    for line in out.splitlines():
        text = json.loads(line)["text"]
        assert text == "" or set(text.split(" ")) <= set(words), text
    code, out, err = run_cli("eval", asr_run, "--lexicon", ",".join(DIGITS))
    assert code == 0, err
    constrained = json.loads(out)
    code, out, err = run_cli("eval", asr_run)
    free = json.loads(out)
    assert constrained["wer"] == free["wer"]  # greedy decoding is not constrained
    metrics = json.loads((asr_run / "metrics.json").read_text())
    assert constrained["wer_beam"] == pytest.approx(metrics["test_lexicon"]["wer_beam"], abs=1e-6)
    for options, message in [(["--lexicon", "zero"], "give --beam 2 or more with --lexicon"),
                              (["--beam", "4", "--lexicon", "zero,ELEVEN"], "--lexicon: character 'E'")]:
        code, out, err = run_cli("transcribe", asr_run, wavs[0], *options)
        assert code == 2 and message in err, err


def test_warp_auto_takes_the_factor_the_model_is_most_confident_under(asr_run, data_root):
    from seqkit.checkpoint import load_model
    from seqkit.data.audio import read_audio
    from seqkit.speech.warp import WARPS, choose_warp

    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_lucas_2", "0_lucas_4")]
    code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--warp", "auto")
    assert code == 0, err
    chosen = {json.loads(line)["warp"] for line in out.splitlines()}
    model, _ = load_model(asr_run / "checkpoints/best.ckpt")
    warp, scores = choose_warp(model, [pad_waves([torch.from_numpy(read_audio(p)) for p in wavs])])
    assert set(scores) == set(WARPS) and chosen == {warp} and scores[warp] == max(scores.values())
    assert len(set(scores.values())) > 1  # each factor changes what the model hears

    def choices(*options):
        code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--choices", ",".join(DIGITS), *options)
        assert code == 0, err
        return [json.loads(line)["log_likelihood"] for line in out.splitlines()]

    assert choices("--warp", "1") == choices()
    assert choices("--warp", "0.9") != pytest.approx(choices(), abs=1e-3)
    code, out, err = run_cli("eval", asr_run, "--warp", "auto")
    assert code == 0, err
    assert json.loads(out)["warp"] in WARPS
    for value in ("fast", "3", "nan"):
        code, out, err = run_cli("transcribe", asr_run, wavs[0], "--warp", value)
        assert code == 2 and f"--warp must be auto or a frequency factor between 0.5 and 2 (0.9: formants 10% " \
            f"lower), got '{value}'" in err, err
    with pytest.raises(SeqkitError, match="--warp warps a spectrogram: it needs a conv_spectrogram front-end"):
        choose_warp(sk.SeqModel(torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity()), [])


def test_transcribe_goes_on_past_a_bad_file_and_exits_non_zero(asr_run, data_root, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    good = data_root / "fsdd/recordings/3_lucas_1.wav"
    code, out, err = run_cli("transcribe", asr_run, tmp_path / "empty.wav", good)
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'empty.wav'}: empty file"
    assert out.startswith(str(good))


def test_transcribe_with_choices_picks_the_most_likely_of_them(asr_run, data_root, tmp_path):
    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2", "0_jackson_4")]
    words = ["zero", "three", "seven", "nine"]
    code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--choices", ",".join(words))
    assert code == 0, err
    picked = [json.loads(line) for line in out.splitlines()]
    assert all(p["text"] in words and p["log_likelihood"] < 0 for p in picked)
    for word in words:  # each word alone: its own log-likelihood, never above the picked one's
        code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--choices", word)
        for alone, best in zip((json.loads(line) for line in out.splitlines()), picked):
            assert alone["text"] == word
            assert alone["log_likelihood"] <= best["log_likelihood"] + 1e-3
            same = alone["log_likelihood"] == pytest.approx(best["log_likelihood"], abs=1e-3)
            assert same == (word == best["text"])
    # 50 ms give one output frame: too short for "three" (5 frames); the error names the file, exit 1.
    audio, rate = sf.read(wavs[0], dtype="float32")
    sf.write(tmp_path / "short.wav", audio[:400], rate)
    code, out, err = run_cli("transcribe", asr_run, tmp_path / "short.wav", wavs[0], "--choices", "three")
    assert code == 1 and err.strip() == f"error: {tmp_path / 'short.wav'}: too short for any of the choices"
    assert out.strip() == f"{wavs[0]}\tthree"
    for options, message in [(["--choices", "zero,ONE"], "--choices: character 'O' is not in the model's alphabet"),
                             (["--choices", "zero,,one"], "--choices needs one or more non-empty transcripts"),
                             (["--choices", "zero,one", "--beam", "4"], "it takes no --beam or --lm")]:
        code, out, err = run_cli("transcribe", asr_run, wavs[0], *options)
        assert code == 2 and message in err and out == "", (options, err)


def test_transcribe_equalizes_files_as_the_model_was_trained(asr_run, data_root, tmp_path):
    from seqkit.data.audio import read_audio
    from seqkit.data.equalize import average_spectrum

    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_lucas_2", "0_lucas_4")]
    checkpoint = torch.load(asr_run / "checkpoints/best.ckpt", weights_only=True)
    spectrum = average_spectrum([read_audio(p) for p in wavs])

    def transcribe_with(reference, *options):
        checkpoint["seqkit"]["equalize_reference"] = reference.tolist()
        path = tmp_path / "equalized.ckpt"
        torch.save(checkpoint, path)
        code, out, err = run_cli("transcribe", path, *wavs, "--json", "--choices", ",".join(DIGITS), *options)
        assert code == 0, err
        return [json.loads(line)["log_likelihood"] for line in out.splitlines()]

    code, out, err = run_cli("transcribe", asr_run, *wavs, "--json", "--choices", ",".join(DIGITS))
    plain = [json.loads(line)["log_likelihood"] for line in out.splitlines()]
    # The files' own average spectrum as the reference: a gain of 1, the same audio and scores.
    assert transcribe_with(spectrum) == pytest.approx(plain, abs=1e-3)
    tilted = spectrum + np.linspace(-2.0, 2.0, len(spectrum))  # a brighter training voice
    together = transcribe_with(tilted)
    assert together != pytest.approx(plain, abs=1e-2)
    assert transcribe_with(tilted, "--equalize", "each") != pytest.approx(together, abs=1e-3)
    code, out, err = run_cli("transcribe", asr_run, wavs[0], "--equalize", "speaker")
    assert code == 2 and "--equalize must be together or each, got 'speaker'" in err
