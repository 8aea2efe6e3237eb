"""Long recordings in `seqkit transcribe`: chunked transcripts equal their parts', any rate and channels read
block by block, the options on long files, memory that does not grow with the length, bad --window values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF
from torchmetrics.functional.text import word_error_rate

import seqkit as sk
from seqkit.data.audio import read_audio
from seqkit.data.equalize import average_spectrum
from seqkit.data.fsdd import DIGITS
from seqkit.errors import SeqkitError
from seqkit.speech.chunks import chunks, long_spectrum

from helpers import one_line, one_line_error, run_cli

RATE = 8000
WINDOW = 3.0  # seconds: a few digits a chunk, so that a file of 20 digits has a dozen cuts
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")
# Word error rate of chunked transcripts against their parts' transcripts, allowed. Measured on these
# files (100 words): 0 at this window, 0.02 at 5 and 10 s, 0.03 read whole (one chunk): the model's
# words depend a little on the context it hears, whichever way the file is cut.
TOLERANCE = 0.06


@pytest.fixture(scope="module")
def long_files(test_recordings, join_audio, tmp_path_factory):
    """One file per speaker: 20 of their test recordings, 0.1-0.3 s of silence after each (the
    pauses of the training utterances); with its parts (each recording cut from the file, as files)
    and where each part is in it."""
    folder = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(0)
    files = []
    for k, speaker in enumerate(SPEAKERS):
        recordings = [p for p in test_recordings if f"_{speaker}_" in p.name][:20]
        audio, spans = join_audio(recordings, rng.uniform(0.1, 0.3, len(recordings)).tolist(), seed=k)
        sf.write(folder / f"{speaker}.wav", audio, RATE)
        parts = []
        for n, (start, end) in enumerate(spans):
            parts.append(folder / f"{speaker}_{n}.wav")
            sf.write(parts[-1], audio[round(start * RATE):round(end * RATE)], RATE)
        files.append((folder / f"{speaker}.wav", parts, spans))
    return files


def test_a_chunked_transcript_equals_its_parts(digits_run, long_files):
    paths = [path for path, _, _ in long_files]
    assert all(len(read_audio(p)) / RATE > 3 * WINDOW for p in paths)
    chunked = sk.transcribe(digits_run, paths, window=WINDOW)
    parts = [" ".join(r["text"] for r in sk.transcribe(digits_run, ps)) for _, ps, _ in long_files]
    errors = float(word_error_rate([r["text"] for r in chunked], parts))
    assert errors <= TOLERANCE, (errors, [r["text"] for r in chunked], parts)
    for result, (_, _, spans) in zip(chunked, long_files):
        words = result["words"]
        assert [w["word"] for w in words] == result["text"].split()
        assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:])), words
        # every word in a part (to an output frame, 40 ms), none in a pause: the chunks' offsets are right
        assert all(any(s - 0.04 <= (w["start"] + w["end"]) / 2 <= e + 0.04 for s, e in spans) for w in words)


def test_any_rate_and_channels_are_read_block_by_block(digits_run, long_files, tmp_path):
    path = long_files[0][0]
    audio = read_audio(path)
    upsampled = AF.resample(torch.from_numpy(audio), RATE, 16000).numpy()
    stereo = tmp_path / "16k_stereo.flac"
    sf.write(stereo, np.stack([upsampled, upsampled], axis=1), 16000)
    [plain, flac] = sk.transcribe(digits_run, [path, stereo], window=WINDOW)
    whole = sk.transcribe(digits_run, [stereo], window=1000.0)[0]  # read and resampled at once
    # Measured: one word of 20 differs from either (0.05), where the model hesitates between two.
    for other in (whole, plain):
        assert float(word_error_rate(flac["text"], other["text"])) <= 0.15, (flac["text"], other["text"])
    pieces = list(chunks(stereo, RATE, WINDOW))
    assert len(pieces) > 4 and all(len(c.audio) <= WINDOW * RATE + 1 for c in pieces)
    assert pieces[0].start == 0 and all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    assert sum(len(c.core()) for c in pieces) == pytest.approx(len(audio), abs=len(pieces))


def test_the_options_work_on_long_files(digits_run, long_files, tmp_path):
    path, parts, _ = long_files[1]
    for options in (["--beam", "4", "--lexicon", ",".join(DIGITS)], ["--warp", "auto"], ["--warp", "1"]):
        code, out, err = run_cli("transcribe", digits_run, path, "--json", "--window", WINDOW, *options)
        assert code == 0, err
        line = json.loads(out)
        assert len(line["words"]) >= len(parts) // 2 and set(line["text"].split()) <= set(DIGITS)
        assert ("warp" in line) == ("--warp" in options)
    # --equalize: a long file is filtered from its own spectrum, streamed over its chunks. As the
    # reference, that spectrum is a gain of 1: the same words as without equalisation.
    spectrum = long_spectrum(path, RATE, WINDOW)
    assert np.abs(spectrum - average_spectrum([read_audio(path)])).mean() < 0.5  # nats: close to the whole file's
    checkpoint = torch.load(digits_run / "checkpoints/best.ckpt", weights_only=True)
    checkpoint["seqkit"]["equalize_reference"] = spectrum.tolist()
    torch.save(checkpoint, tmp_path / "equalized.ckpt")
    plain = sk.transcribe(digits_run, [path], window=WINDOW)[0]
    assert sk.transcribe(tmp_path / "equalized.ckpt", [path], window=WINDOW)[0]["words"] == plain["words"]
    # --choices takes a file as one transcript: a long one gets a one-line error; the others go on.
    code, out, err = run_cli("transcribe", digits_run, path, parts[0], "--window", WINDOW,
                             "--choices", ",".join(DIGITS))
    assert code == 1 and out.strip().startswith(str(parts[0]))
    one_line_error(code, err, path, "--window 3", "--choices")


@pytest.mark.parametrize("value", ["0", "-2", "0.5", "nan", "inf"])
def test_a_window_that_is_not_a_few_seconds_is_refused(digits_run, long_files, value):
    code, out, err = run_cli("transcribe", digits_run, long_files[0][0], "--window", value)
    assert code == 2 and out == ""
    one_line_error(code, err, "--window", f"got {float(value)!r}")
    with pytest.raises(SeqkitError) as error:
        sk.transcribe(digits_run, [long_files[0][0]], window=float(value))
    one_line(error.value, "--window")


# Peak RSS so far, from /proc (VmHWM, kB): getrusage's ru_maxrss would keep the forking pytest's.
MEASURE = """
import json, re, sys
import seqkit as sk
checkpoint, window, *files = sys.argv[1:]
peaks = []
for path in files:  # the first, short, loads the model and decodes one window: the baseline
    sk.transcribe(checkpoint, [path], window=float(window))
    peaks.append(int(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)))
print(json.dumps(peaks))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from Linux's /proc")
def test_memory_does_not_grow_with_the_length(digits_run, long_files, tmp_path):
    """Peak memory (RSS) of transcribing a file 4 times as long as another, chunked, against the
    same two read whole (a window longer than both): the chunked peak stays where it was."""
    audio = np.concatenate([read_audio(path) for path, _, _ in long_files[:3]])  # about 30 s
    for name, wave in (("warm", audio[: round(2 * WINDOW * RATE)]), ("x1", audio), ("x4", np.tile(audio, 4))):
        sf.write(tmp_path / f"{name}.wav", wave, RATE)
    files = [tmp_path / f"{name}.wav" for name in ("warm", "x1", "x4")]
    peaks = {mode: json.loads(subprocess.run([sys.executable, "-c", MEASURE, str(digits_run), str(window),
                                              *map(str, files)], capture_output=True, text=True, check=True).stdout)
             for mode, window in (("chunked", WINDOW), ("whole", 1000.0))}
    growth = {mode: four - one for mode, (_, one, four) in peaks.items()}  # KB, from 1x to 4x
    assert growth["whole"] > 10_000, peaks  # reading and decoding 4x as much at once costs more, as it must
    assert growth["chunked"] < 0.2 * growth["whole"], peaks
