"""The conv spectrogram front-end on real recordings: lengths, padding, normalisation views, warps, filters."""

from __future__ import annotations

import pytest
import torch
import torchaudio.functional as AF

import seqkit as sk
from seqkit.data.audio import pad_waves
from seqkit.errors import SeqkitError


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
