"""Speech: the conv front-end's lengths, CTC padding, the digit builder, decoding, the recipe end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

import seqkit as sk
from seqkit.blocks.ctc import beam_search, greedy, prefix_beam_search
from seqkit.data.audio import pad_waves
from seqkit.data.fsdd import DIGITS, read_fsdd, split
from seqkit.errors import SeqkitError

from .test_ltsf import run_cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def recordings(data_root):
    return read_fsdd(data_root / "fsdd" / "recordings")


def test_conv_lengths_equal_the_frames_of_each_utterance_alone(recordings):
    conv = sk.ConvSpectrogram(in_dim=1, sample_rate=8000, n_mels=40, filters=4, dim=16).eval()
    waves = [torch.from_numpy(r.audio) for r in recordings[:6]]
    waves += [waves[0][:4001], waves[0][:4002], waves[1][:3999], waves[1][:3998]]  # odd and even lengths
    batch, lengths = pad_waves(waves)
    with torch.no_grad():
        y, out_lengths = conv(batch, lengths)
        for k, w in enumerate(waves):
            alone, alone_length = conv(w.view(1, -1, 1), lengths[k : k + 1])
            assert alone.shape[1] == alone_length.item() == out_lengths[k].item()
            assert torch.allclose(alone[0], y[k, : alone.shape[1]], atol=1e-4)
    # One output frame per frame_ms: a second of audio gives 1000 / frame_ms frames, less the 25 ms window.
    for stride, hop, ms in ((4, 10.0, 40.0), (2, 10.0, 20.0), (1, 8.0, 8.0)):
        conv = sk.ConvSpectrogram(in_dim=1, sample_rate=8000, hop_ms=hop, time_stride=stride, filters=4, dim=8)
        assert conv.frame_ms == ms
        assert 1000 / ms - 4 <= conv(torch.zeros(1, 8000, 1), torch.tensor([8000]))[1].item() <= 1000 / ms


def test_padding_never_leaks_into_the_ctc_loss(recordings):
    torch.manual_seed(0)
    spec = {"frontend": {"name": "conv_spectrogram", "filters": 4, "dim": 16},
            "backend": {"name": "gru", "hidden": 12, "bidirectional": True}, "head": {"name": "ctc"}}
    model = sk.build_model(spec, in_dim=1, sample_rate=8000, vocab_size=5).eval()
    short, long = recordings[3].audio, recordings[40].audio
    assert len(short) != len(long)
    targets = [torch.tensor([1, 2, 3]), torch.tensor([4, 0])]

    def loss_of(waves, targets_):
        inputs, lengths = pad_waves(waves)
        batch = {"targets": torch.nn.utils.rnn.pad_sequence(targets_, batch_first=True),
                 "target_lengths": torch.tensor([len(t) for t in targets_])}
        return model.head.loss(*model(inputs, lengths), batch)

    with torch.no_grad():
        alone = [loss_of([short], targets[:1]), loss_of([long], targets[1:])]
        together = loss_of([short, long], targets)
    assert torch.allclose(together, (alone[0] + alone[1]) / 2, rtol=1e-5)


def test_connected_digits_are_deterministic_and_match_their_recordings(recordings):
    parts = split(recordings)
    data = sk.data.fsdd.Utterances(parts["test"], count=50, seed=7)
    again = sk.data.fsdd.Utterances(parts["test"], count=50, seed=7)
    for i in range(50):
        audio, text, picks = data.utterance(i)
        audio2, text2, _ = again.utterance(i)
        assert text == text2 and np.array_equal(audio, audio2)
        used = [parts["test"][p] for p in picks]
        assert text == " ".join(DIGITS[r.digit] for r in used)
        assert 1 <= len(used) <= 7 and len({r.speaker for r in used}) == 1
        assert len(audio) == data.length(i) >= sum(len(r.audio) for r in used)
        start = 0  # every recording appears verbatim, in order, separated by 50-300 ms of silence
        for k, r in enumerate(used):
            assert np.array_equal(audio[start:start + len(r.audio)], r.audio)
            start += len(r.audio)
            if k < len(used) - 1:
                pause = data.plan(i)[1][k]
                assert 400 <= pause <= 2400 and not audio[start:start + pause].any()
                start += pause


def test_speed_perturbation_changes_the_audio_of_training_utterances_only(recordings, data_root):
    parts = split(recordings)
    plain = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3)
    fast = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3, speed=0.1)
    for i in range(30):
        (_, text, picks), (audio2, text2, picks2) = plain.utterance(i), fast.utterance(i)
        assert text == text2 and picks == picks2 and plain.plan(i)[1] == fast.plan(i)[1]  # same words and pauses
        factors = fast.plan(i)[2]
        assert all(0.9 <= f <= 1.1 for f in factors) and len(audio2) == fast.length(i)
        first = sk.data.audio.speed_perturb(parts["train"][picks[0]].audio, factors[0])
        assert np.array_equal(audio2[: len(first)], first)  # each recording is played at its own speed
        assert abs(len(first) - len(parts["train"][picks[0]].audio) / factors[0]) <= 1
    again = sk.data.fsdd.Utterances(parts["train"], count=30, seed=3, speed=0.1)
    assert np.array_equal(fast.utterance(5)[0], again.utterance(5)[0])  # deterministic
    # A 500 Hz tone played 1.1 times faster is a 550 Hz tone.
    tone = np.sin(2 * np.pi * 500 * np.arange(8000) / 8000).astype(np.float32)
    faster = sk.data.audio.speed_perturb(tone, 1.1)
    peak = np.argmax(np.abs(np.fft.rfft(faster))) * 8000 / len(faster)
    assert abs(peak - 550) < 2
    data = sk.SpeechData(data_root / "fsdd/recordings", speed_perturb=0.1, train_utterances=8, eval_utterances=8)
    assert data.splits["train"].speed == 0.1 and data.splits["val"].speed == data.splits["test"].speed == 0.0
    with pytest.raises(SeqkitError, match="data.speed_perturb must be in"):
        sk.data.fsdd.Utterances(parts["train"], count=3, seed=3, speed=0.7)


def test_noise_at_a_random_snr_is_added_to_training_utterances_only(recordings, data_root):
    parts = split(recordings)
    plain = sk.data.fsdd.Utterances(parts["train"], count=20, seed=4, digits="isolated")
    noisy = sk.data.fsdd.Utterances(parts["train"], count=20, seed=4, digits="isolated", snr=(10, 30))
    for i in range(20):
        clean, dirty = plain.utterance(i)[0].astype(np.float64), noisy.utterance(i)[0].astype(np.float64)
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((dirty - clean) ** 2))
        assert 9 < snr < 31  # relative to each utterance's own level: quiet speakers get quiet noise
    assert np.array_equal(noisy.utterance(3)[0], noisy.utterance(3)[0])  # deterministic
    data = sk.SpeechData(data_root / "fsdd/recordings", noise_snr=[10, 30], train_utterances=8, eval_utterances=8)
    assert data.splits["train"].snr == (10, 30) and data.splits["val"].snr is None and data.splits["test"].snr is None
    with pytest.raises(SeqkitError, match=r"data.noise_snr must be \[low, high\]"):
        sk.data.fsdd.Utterances(parts["train"], count=3, seed=3, snr=(30, 10))


def test_utterance_normalisation_keeps_the_spectral_shape_that_band_normalisation_removes(recordings):
    batch, lengths = pad_waves([r.audio for r in recordings[:2]])
    band = sk.ConvSpectrogram(norm="band", filters=4, dim=8).eval()
    whole = sk.ConvSpectrogram(norm="utterance", filters=4, dim=8).eval()
    (spec_b, frames), (spec_u, _) = band.features(batch, lengths), whole.features(batch, lengths)
    for k in range(2):
        b, u = spec_b[k, :, : frames[k]], spec_u[k, :, : frames[k]]
        assert torch.allclose(b.mean(1), torch.zeros(40), atol=1e-4)  # every band's average removed
        assert abs(float(u.mean())) < 1e-4 and abs(float(u.std(unbiased=False)) - 1) < 1e-3
        assert float(u.mean(1).std()) > 0.3  # bands keep their differences: the word's average spectrum
        assert not spec_u[k, :, frames[k]:].any()  # padding stays zero
    with pytest.raises(SeqkitError, match="conv_spectrogram norm must be band, utterance or both"):
        sk.ConvSpectrogram(norm="global")


def test_warp_puts_the_formants_where_a_faster_voice_has_them(recordings):
    # Playing a recording 10% faster moves every frequency 10% up; warping its spectrum by 1.1
    # must give the same average spectrum across the mel bands (time is another matter).
    conv = sk.ConvSpectrogram(norm="utterance", filters=4, dim=8).eval()
    speech = recordings[0].audio
    faster = AF.resample(torch.from_numpy(speech), 110, 100).numpy()  # 10% fewer samples at 8 kHz

    def profile(audio, warp=1.0):
        conv.warp = warp
        spec, frames = conv.features(*pad_waves([audio]))
        return spec[0, :, : frames[0]].mean(1)  # each band's average over the recording

    target = profile(faster)
    low = slice(0, 34)  # the top bands hold what the 8 kHz recording had above its Nyquist frequency
    warped, plain = profile(speech, 1.1), profile(speech)
    assert (warped - target)[low].abs().mean() < 0.5 * (plain - target)[low].abs().mean()  # 0.34 here
    assert profile(speech, 1.0).equal(plain)  # 1.0: the unwarped front-end, bit for bit


def test_both_views_are_the_utterance_and_band_features_as_two_channels(recordings):
    batch, lengths = pad_waves([r.audio for r in recordings[:3]])
    both = sk.ConvSpectrogram(norm="both", filters=4, dim=8).eval()
    views, frames = both.features(batch, lengths)
    assert views.shape[1] == 2
    for k, norm in enumerate(("utterance", "band")):
        alone, _ = sk.ConvSpectrogram(norm=norm, filters=4, dim=8).eval().features(batch, lengths)
        assert torch.equal(views[:, k], alone)
    y, out = both(batch, lengths)
    assert y.shape == (3, int(out.max()), 8) and both.conv1.in_channels == 2
    first, _ = both(batch[:1, : lengths[0]], lengths[:1])  # alone, unpadded: the same frames
    assert torch.allclose(first[0], y[0, : out[0]], atol=1e-5)


def test_random_filter_is_removed_by_band_norm_and_seen_by_the_utterance_view(recordings):
    batch, lengths = pad_waves([r.audio for r in recordings[:3]])
    settings = {"filters": 4, "dim": 8, "filter_db": 10.0, "freq_masks": 0, "time_masks": 0}
    band = sk.ConvSpectrogram(norm="band", **settings)
    whole = sk.ConvSpectrogram(norm="utterance", **settings)
    clean_b, frames = band.eval().features(batch, lengths)
    clean_u, _ = whole.eval().features(batch, lengths)
    torch.manual_seed(0)
    filtered_b, _ = band.train().features(batch, lengths)
    filtered_u, _ = whole.train().features(batch, lengths)
    assert torch.allclose(filtered_b, clean_b, atol=1e-3)  # a gain per band is what band norm removes
    shift = (filtered_u - clean_u)[0, :, : frames[0]]
    assert float(shift.abs().max()) > 0.05  # the utterance view sees the colouring ...
    assert float(shift.std(1).max()) < 0.05 * float(shift.abs().max())  # ... a gain per band, the same in every frame
    assert torch.equal(whole.eval().features(batch, lengths)[0], clean_u)  # never outside training
    with pytest.raises(SeqkitError, match="filter_db must be >= 0 and filter_points >= 2"):
        sk.ConvSpectrogram(filter_db=-3)


def test_equalizing_a_speaker_takes_a_microphone_colour_out(recordings):
    from dataclasses import replace

    from seqkit.data.equalize import equalize, equalize_speakers

    mine = [r for r in recordings if r.speaker == "george" and r.index < 10]
    frequency = np.linspace(0, 1, 129)  # 0 to 4 kHz
    colour = 10 ** ((9 - 15 * frequency + 4 * np.sin(3 * np.pi * frequency)) / 20)  # another microphone
    coloured = [replace(r, speaker="other", audio=equalize(r.audio, colour)) for r in mine]
    fixed, _ = equalize_speakers(mine + coloured, reference_speakers=["george"])

    def error(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    before = np.mean([error(c.audio, r.audio) for c, r in zip(coloured, mine)])
    after = np.mean([error(f.audio, r.audio) for f, r in zip(fixed[len(mine):], mine)])
    assert before > 0.5 and after < 0.15, (before, after)
    # The reference speaker's own recordings are (close to) untouched: their gain is 1 up to smoothing.
    assert np.mean([error(f.audio, r.audio) for f, r in zip(fixed[: len(mine)], mine)]) < 0.05


def test_equalized_data_gives_every_speaker_the_training_speakers_average_spectrum(data_root):
    from seqkit.data.equalize import average_spectrum

    def colours(data):  # each speaker's average spectrum against the reference, in 250 Hz bands (dB)
        found = {}
        for name in ("train", "test"):
            recordings = data.splits[name].recordings
            for speaker in sorted({r.speaker for r in recordings}):
                spectrum = average_spectrum([r.audio for r in recordings if r.speaker == speaker])
                decibels = 10 / np.log(10) * (spectrum - reference)[4:124]  # 125 Hz to 3.875 kHz
                found[speaker] = np.abs(decibels.reshape(15, 8).mean(1)).max()
        return found

    data = sk.SpeechData(data_root / "fsdd/recordings", test_speakers=["nicolas"], equalize=True,
                         train_utterances=8, eval_utterances=8)
    reference = np.asarray(data.info["equalize_reference"])
    raw = sk.SpeechData(data_root / "fsdd/recordings", test_speakers=["nicolas"], train_utterances=8,
                        eval_utterances=8)
    assert "equalize_reference" not in raw.info
    before, after = colours(raw), colours(data)
    assert sorted(after) == sorted(before) == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    for speaker in before:  # 4.8-13.6 dB off somewhere before; held-out nicolas too
        assert before[speaker] > 4.5 and after[speaker] < 3.5, (speaker, before[speaker], after[speaker])
    assert ([len(r.audio) for r in raw.splits["test"].recordings]
            == [len(r.audio) for r in data.splits["test"].recordings])


def test_splits_never_share_a_recording(recordings):
    names = {k: {(r.digit, r.speaker, r.index) for r in v} for k, v in split(recordings).items()}
    assert not names["train"] & names["test"] and not names["val"] & names["test"]
    assert not names["train"] & names["val"]
    assert all(i <= 4 for _, _, i in names["test"]) and len(names["test"]) == 250
    held = {k: {(r.digit, r.speaker, r.index) for r in v} for k, v in split(recordings, ["lucas"]).items()}
    assert {s for _, s, _ in held["test"]} == {"lucas"} and len(held["test"]) == 500
    assert "lucas" not in {s for _, s, _ in held["train"] | held["val"]}


def test_unknown_test_speaker_lists_the_valid_ones(recordings):
    with pytest.raises(SeqkitError, match="unknown speaker.*lukas.*george, jackson, lucas, nicolas, yweweler"):
        split(recordings, ["lukas"])


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


def test_bad_audio_inputs_are_named(tmp_path, data_root):
    from seqkit.data.audio import read_audio

    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio at all\n")
    good = (data_root / "fsdd/recordings/0_george_0.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:30])
    for name, message in [("missing.wav", "no such file"), ("empty.wav", "empty file"),
                          ("text.wav", "not a readable audio file"), ("cut.wav", "not a readable audio file")]:
        with pytest.raises(SeqkitError, match=f"{name}: {message}"):
            read_audio(tmp_path / name)
    with pytest.raises(SeqkitError, match="no recordings named"):
        read_fsdd(tmp_path)


@pytest.fixture(scope="module")
def asr_run(tmp_path_factory, data_root) -> Path:
    run_dir = tmp_path_factory.mktemp("asr") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/asr", "-c", ROOT / "configs/debug.yaml",
                                 "data.train_utterances=96", "data.eval_utterances=32", f"run_dir={run_dir}")
    assert code == 0, err
    return run_dir


def test_recipe_smoke_run_writes_every_file(asr_run):
    for name in ["config.yaml", "metrics.json", "train.log", "transcripts.png", "loss.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"]:
        assert (asr_run / name).is_file(), name
    metrics = json.loads((asr_run / "metrics.json").read_text())
    for split_name in ("val", "test"):
        assert set(metrics[split_name]) == {"wer", "cer", "wer_beam", "cer_beam"}
        assert set(metrics[f"{split_name}_lexicon"]) == {"wer_beam", "cer_beam"}  # the ten digit words
    checkpoint = torch.load(asr_run / "checkpoints/best.ckpt", weights_only=True)
    assert checkpoint["seqkit"]["tokenizer"]["kind"] == "chars"


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


def test_warp_perturbation_moves_each_training_utterance_by_its_own_factor(recordings):
    audio = recordings[0].audio
    batch, lengths = pad_waves([audio, audio])
    torch.manual_seed(0)
    conv = sk.ConvSpectrogram(norm="utterance", filters=4, dim=8, warp_perturb=0.2)
    spec, _ = conv.features(batch, lengths)  # training mode
    assert (spec[0] - spec[1]).abs().mean() > 0.05  # the same recording, two vocal tracts
    plain = sk.ConvSpectrogram(norm="utterance", filters=4, dim=8).eval()
    assert conv.eval().features(batch, lengths)[0].equal(plain.features(batch, lengths)[0])  # never in eval
    with pytest.raises(SeqkitError, match=r"conv_spectrogram warp_perturb must be in \[0, 0.5\), got 0.5"):
        sk.ConvSpectrogram(warp_perturb=0.5)


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


@pytest.fixture(scope="module")
def eager_checkpoint(asr_run, tmp_path_factory) -> Path:
    """The smoke run's model with its blank made unlikely: the debug-sized model hears no words at
    all, this one hears characters everywhere, which is what self-training needs to start from."""
    checkpoint = torch.load(asr_run / "checkpoints/best.ckpt", weights_only=True)
    checkpoint["state_dict"]["model.head.project.bias"][0] -= 10.0  # class 0 is the CTC blank
    path = tmp_path_factory.mktemp("eager") / "eager.ckpt"
    torch.save(checkpoint, path)
    return path


def test_self_training_fits_the_model_to_its_own_transcripts_of_a_new_voice(eager_checkpoint, data_root):
    from seqkit.checkpoint import load_model
    from seqkit.data.audio import batched, read_audio, speech_batch
    from seqkit.data.tokenizers import tokenizer_from_data
    from seqkit.speech.adapt import confident_transcripts, self_train

    waves = [read_audio(data_root / f"fsdd/recordings/{d}_lucas_{i}.wav") for d in (3, 7, 0) for i in (1, 2)]
    model, info = load_model(eager_checkpoint)
    tokenizer = tokenizer_from_data(info["tokenizer"])
    texts, _ = confident_transcripts(model, tokenizer, batched(waves), len(waves), 1)
    assert all(texts), texts
    batch = speech_batch(waves, texts, tokenizer)

    def loss() -> float:  # of the model's first transcripts, without augmentation
        model.eval()
        with torch.no_grad():
            return float(model.head.loss(*model(batch["inputs"], batch["input_lengths"]), batch))

    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = loss()
    report = self_train(model, tokenizer, waves, {"accelerator": "cpu"}, rounds=1, epochs=5, keep=1.0, lr=1e-3,
                        beam=1, warp=None, progress=False)
    assert report["utterances"] == 6 and report["rounds"][0]["kept"] == 6 and report["warp"] == 1.0
    assert loss() < 0.8 * first  # fine-tuned towards its own transcripts of these recordings
    assert not model.training and any(not v.equal(before[k]) for k, v in model.state_dict().items())
    with pytest.raises(SeqkitError, match="adapt needs rounds >= 1, epochs >= 1, 0 < keep <= 1"):
        self_train(model, tokenizer, waves, {}, keep=0.0)


def test_adapt_writes_a_new_checkpoint_that_transcribe_uses(eager_checkpoint, asr_run, data_root, tmp_path):
    from seqkit.checkpoint import load_model

    wavs = [data_root / f"fsdd/recordings/{d}_lucas_{i}.wav" for d in (3, 7, 0) for i in (1, 2)]
    out = tmp_path / "lucas.ckpt"
    code, text, err = run_cli("adapt", eager_checkpoint, *wavs, "--out", out, "--rounds", "2", "--epochs", "1",
                              "--lexicon", "none", "--beam", "1")
    assert code == 0, err
    assert f"wrote {out}: 2 round(s) over 6 recordings" in text  # after the progress bars
    model, info = load_model(out)
    assert info["adapted"]["utterances"] == 6 and len(info["adapted"]["rounds"]) == 2
    assert info["warp"] in (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2) and model.frontend.warp == info["warp"]
    code, text, err = run_cli("transcribe", out, *wavs[:2], "--json")
    assert code == 0 and len(text.splitlines()) == 2, err
    # An existing --out is never replaced; an unreadable file or a model that hears nothing stops
    # the work before anything is written.
    before = out.read_bytes()
    code, text, err = run_cli("adapt", eager_checkpoint, *wavs, "--out", out, "--lexicon", "none", "--beam", "1")
    assert code == 2 and f"{out} exists: give adapt a new --out (nothing was overwritten)" in err
    assert out.read_bytes() == before
    (tmp_path / "empty.wav").write_bytes(b"")
    code, text, err = run_cli("adapt", eager_checkpoint, wavs[0], tmp_path / "empty.wav", "--out", tmp_path / "x.ckpt")
    assert code == 2 and f"1 of 2 files cannot be read, first {tmp_path / 'empty.wav'}: empty file" in err
    code, text, err = run_cli("adapt", asr_run, *wavs, "--out", tmp_path / "y.ckpt", "--rounds", "1")
    assert code == 2 and "transcribed none of the utterances as any word" in err
    assert not (tmp_path / "x.ckpt").exists() and not (tmp_path / "y.ckpt").exists()


def test_an_ensemble_is_one_checkpoint_averaging_its_members(asr_run, eager_checkpoint, data_root, tmp_path):
    from seqkit.checkpoint import load_model
    from seqkit.data.audio import read_audio

    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2", "0_jackson_4")]
    out = tmp_path / "both.ckpt"
    code, text, err = run_cli("ensemble", asr_run, eager_checkpoint, "--out", out)
    assert code == 0 and text.strip() == f"wrote {out}: an ensemble of 2 asr models", err
    ensemble, info = load_model(out)
    assert isinstance(ensemble, sk.Ensemble) and len(info["members"]) == 2 and not ensemble.training
    # Per frame: the mean of the members' log-probabilities, renormalised, on real recordings.
    inputs, lengths = pad_waves([torch.from_numpy(read_audio(w)) for w in wavs])
    with torch.no_grad():
        combined, out_lengths = ensemble(inputs, lengths)
        alone = [load_model(c)[0](inputs, lengths) for c in (asr_run, eager_checkpoint)]
    assert all(torch.equal(n, out_lengths) for _, n in alone)
    expected = (alone[0][0] + alone[1][0]).div(2).log_softmax(-1)
    assert torch.allclose(combined, expected, atol=1e-5)
    assert not torch.allclose(combined, alone[0][0], atol=1e-2) and not torch.allclose(combined, alone[1][0], atol=1e-2)
    # transcribe and eval take it as any checkpoint; the beam search runs on the combined frames.
    code, text, err = run_cli("transcribe", out, *wavs, "--beam", "4", "--json")
    assert code == 0 and [json.loads(line)["file"] for line in text.splitlines()] == [str(w) for w in wavs], err
    code, text, err = run_cli("eval", out)
    assert code == 0 and 0 <= json.loads(text)["wer_beam"], err
    # An ensemble among the checkpoints gives its members.
    code, text, err = run_cli("ensemble", out, asr_run, "--out", tmp_path / "three.ckpt")
    assert code == 0 and len(load_model(tmp_path / "three.ckpt")[1]["members"]) == 3, err
    # Refusals, in one line, before anything is written; an existing --out is never replaced.
    before = out.read_bytes()
    checkpoint = torch.load(eager_checkpoint, weights_only=True)
    checkpoint["seqkit"]["tokenizer"] = {**checkpoint["seqkit"]["tokenizer"], "chars": " abc"}
    torch.save(checkpoint, tmp_path / "other_units.ckpt")
    for args, message in [((asr_run, "--out", out), "an ensemble needs two or more checkpoints, got 1"),
                          ((asr_run, asr_run, "--out", out), f"{out} exists: give seqkit ensemble a new --out"),
                          ((asr_run, tmp_path / "other_units.ckpt", "--out", tmp_path / "x.ckpt"),
                           f"{tmp_path / 'other_units.ckpt'}: its units (data.units and the training transcripts' "
                           f"alphabet or pieces) differ from {asr_run}'s")]:
        code, text, err = run_cli("ensemble", *args)
        assert code == 2 and message in err, (args, err)
    assert out.read_bytes() == before and not (tmp_path / "x.ckpt").exists()
    code, text, err = run_cli("transcribe", out, wavs[0], "--warp", "1.0")
    assert code == 2 and "an ensemble's members keep the warps they were saved with" in err
    code, text, err = run_cli("export", out, tmp_path / "both.onnx")
    assert code == 2 and "an ensemble checkpoint is exported member by member" in err


def test_adapting_an_ensemble_fine_tunes_every_member_on_its_transcripts(eager_checkpoint, data_root, tmp_path):
    from seqkit.checkpoint import load_model

    wavs = [data_root / f"fsdd/recordings/{d}_lucas_{i}.wav" for d in (3, 7, 0) for i in (1, 2)]
    pair, adapted = tmp_path / "pair.ckpt", tmp_path / "adapted.ckpt"
    sk.save_ensemble([eager_checkpoint, eager_checkpoint], pair)
    code, text, err = run_cli("adapt", pair, *wavs, "--out", adapted, "--rounds", "1", "--epochs", "1",
                              "--lexicon", "none", "--beam", "1")
    assert code == 0, err
    assert f"wrote {adapted}: 1 round(s) over 6 recordings, 4 fine-tuned on in the last, warp None" in text
    before, _ = load_model(pair)
    after, info = load_model(adapted)
    assert isinstance(after, sk.Ensemble) and info["adapted"]["warp"] is None  # an ensemble is not warped
    states = [m.state_dict() for m in after.members]
    assert all(any(not v.equal(before.members[0].state_dict()[k]) for k, v in s.items()) for s in states)
    assert any(not v.equal(states[1][k]) for k, v in states[0].items())  # each its own batch order
    code, text, err = run_cli("adapt", pair, *wavs, "--out", tmp_path / "warped.ckpt", "--warp", "0.9")
    assert code == 2 and "an ensemble's members keep the warps" in err


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


@pytest.mark.parametrize("backend", ["gru", "lstm", "rnn", "segrnn"])
def test_any_backend_by_one_word_trains_on_real_speech(backend, data_root):
    torch.manual_seed(0)
    cfg = sk.load_config(ROOT / "recipes/asr", overrides=[f"model.backend.name={backend}", "model.backend.hidden=16",
                                                          "model.frontend.filters=4", "model.frontend.dim=16"])
    data = sk.SpeechData(**{**cfg.data, "train_utterances": 8, "batch_size": 8})
    model = sk.build_model(cfg.model, **data.dims)
    batch = next(iter(data.train_dataloader()))
    loss = model.head.loss(*model(batch["inputs"], batch["input_lengths"]), batch)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert all(p.grad is not None for p in model.parameters())


def test_sentencepiece_units_are_trained_on_training_transcripts_only(data_root):
    data = sk.SpeechData(units="sentencepiece", vocab_size=24, train_utterances=300, eval_utterances=20)
    tokenizer = data.tokenizer
    assert tokenizer.kind == "sentencepiece" and data.dims["vocab_size"] == tokenizer.vocab_size
    for i in range(20):
        text = data.splits["test"].utterance(i)[1]
        assert tokenizer.decode(tokenizer.encode(text)) == text
    again = sk.tokenizer_from_data(tokenizer.to_data())
    assert again.encode("three one four") == tokenizer.encode("three one four")
    with pytest.raises(SeqkitError, match="data.units must be chars, words or sentencepiece, got 'phones'"):
        sk.SpeechData(units="phones", train_utterances=10, eval_utterances=10)


def test_words_units_make_the_ten_digits_the_classes(data_root):
    data = sk.SpeechData(data_root / "fsdd/recordings", digits="isolated", units="words", train_utterances=8,
                         eval_utterances=8)
    assert data.tokenizer.words == sorted(DIGITS) and data.dims["vocab_size"] == 10
    assert data.tokenizer.decode(data.tokenizer.encode("three one")) == "three one"
    with pytest.raises(SeqkitError, match="word 'eleven' is not in the model's vocabulary"):
        data.tokenizer.encode("eleven")


def test_classify_head_pools_only_valid_steps_and_refuses_several_units():
    head = sk.Classify(in_dim=4, vocab_size=3)
    x = torch.randn(2, 6, 4)
    padded = x.clone()
    padded[1, 3:] = 100.0  # padding after row 1's length
    for pooling in ("mean", "max", "last"):
        head.pooling = pooling
        lengths = torch.tensor([6, 3])
        assert torch.allclose(head(x, lengths)[0], head(padded, lengths)[0])
    with pytest.raises(SeqkitError, match="exactly one unit per sequence"):
        head.loss(head(x, lengths)[0], lengths, {"targets": torch.tensor([[1, 2], [0, 0]]),
                                                 "target_lengths": torch.tensor([2, 1])})


def test_kws_recipe_smoke_run(tmp_path, data_root):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/kws", "-c", ROOT / "configs/debug.yaml",
                                 f"run_dir={tmp_path / 'run'}")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    matrix = np.array(metrics["confusion"]["matrix"])
    assert matrix.shape == (10, 10) and metrics["confusion"]["labels"] == sorted(DIGITS)
    assert matrix.sum() == min(2 * 16, 250)  # debug: two test batches of 16 recordings
    assert (tmp_path / "run/confusion.png").is_file()
    code, out, err = run_cli("eval", tmp_path / "run")
    assert code == 0 and set(json.loads(out)) == {"accuracy"}
    # transcribe: each file's word and its probability; with --choices, the best of those words.
    wavs = [data_root / f"fsdd/recordings/{n}.wav" for n in ("3_lucas_1", "7_george_2")]
    code, out, err = run_cli("transcribe", tmp_path / "run", *wavs, "--json")
    assert code == 0, err
    words = [json.loads(line) for line in out.splitlines()]
    assert all(w["text"] in DIGITS and 0.1 <= w["probability"] <= 1 for w in words)
    others = [d for d in DIGITS if d not in {w["text"] for w in words}][:2]
    code, out, err = run_cli("transcribe", tmp_path / "run", *wavs, "--json", "--choices", ",".join(others))
    chosen = [json.loads(line) for line in out.splitlines()]
    assert all(c["text"] in others and c["probability"] < w["probability"] for c, w in zip(chosen, words))
    # An ensemble of a classifier with itself: the same words with the same probabilities.
    code, out, err = run_cli("ensemble", tmp_path / "run", tmp_path / "run", "--out", tmp_path / "twice.ckpt")
    assert code == 0 and out.strip().endswith("an ensemble of 2 kws models"), err
    code, out, err = run_cli("transcribe", tmp_path / "twice.ckpt", *wavs, "--json")
    twice = [json.loads(line) for line in out.splitlines()]
    assert [t["text"] for t in twice] == [w["text"] for w in words], err
    assert [t["probability"] for t in twice] == pytest.approx([w["probability"] for w in words], abs=1e-4)
    for options, message in [(["--beam", "4"], "a word classifier (kws): it takes no --beam, --lm or --lexicon"),
                             (["--choices", "one two"], "one per choice")]:
        code, out, err = run_cli("transcribe", tmp_path / "run", wavs[0], *options)
        assert code == 2 and message in err, err


def test_both_views_and_random_filter_through_the_recipe_and_export(tmp_path, data_root):
    run_dir = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        code, out, err = run_cli("run", ROOT / "recipes/asr", "-c", ROOT / "configs/debug.yaml",
                                 "data.train_utterances=48", "data.eval_utterances=16", "model.frontend.norm=both",
                                 "model.frontend.filter_db=6", f"run_dir={run_dir}")
        assert code == 0, err
        assert (run_dir / "transcripts.png").is_file()
        code, out, err = run_cli("export", run_dir, tmp_path / "model.onnx", "--format", "onnx")
    assert code == 0, err
    assert (tmp_path / "model.onnx").is_file()
