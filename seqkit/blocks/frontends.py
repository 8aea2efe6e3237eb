"""Front-ends: turn raw input into a feature sequence, ``(B, T, F) -> (B', T', out_dim)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqkit.blocks.dropout import check_fraction, dropout_layer
from seqkit.blocks.norm import NORMS, window_stats
from seqkit.errors import SeqkitError


class Segmenter(nn.Module):
    """Normalise each channel, cut the window into segments of `seg_len` steps and embed each one.

    The SegRNN front-end: every channel becomes its own sequence of segments, so the batch grows
    from B windows to B*C channel rows (row ``b*C + c`` is channel c of window b).

    Args:
        in_dim: channels C of the input series (derived from the data).
        seq_len: window length, checked to be a multiple of `seg_len` (derived from the data).
        seg_len: steps per segment (w); the window length must be a multiple of it.
        dim: size of each segment's embedding (d).
        norm: ``last`` subtracts each channel's last value, ``revin`` standardises each channel over
            the window, ``none`` leaves the values as they are; the `forecast` head undoes it.

    Example:
        >>> seg = Segmenter(in_dim=7, seg_len=24, dim=64)
        >>> y, lengths = seg(torch.randn(2, 720, 7), torch.tensor([720, 720]))
        >>> tuple(y.shape), lengths.tolist()[:3], seg.out_dim
        ((14, 30, 64), [30, 30, 30], 64)
    """

    def __init__(self, in_dim: int, seq_len: int | None = None, seg_len: int = 24, dim: int = 512,
                 norm: str = "last"):
        super().__init__()
        if seq_len is not None and seq_len % seg_len:
            raise SeqkitError(f"seq_len {seq_len} is not a multiple of seg_len {seg_len}: "
                              f"choose data.seq_len as a multiple of model.frontend.seg_len")
        if norm not in NORMS:
            raise SeqkitError(f"segmenter norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if seg_len < 1 or dim < 1:
            raise SeqkitError(f"segmenter seg_len and dim must be positive, got {seg_len} and {dim}")
        self.channels, self.seg_len, self.norm = in_dim, seg_len, norm
        self.embed = nn.Linear(seg_len, dim)
        self.out_dim = dim
        # What the next blocks need to know: rows are single channels, segments are seg_len long.
        self.provides = {"seg_len": seg_len, "norm": norm, "per_channel": True}

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        batch, steps, channels = x.shape
        if steps % self.seg_len:
            raise SeqkitError(
                f"window length {steps} is not a multiple of seg_len {self.seg_len}: "
                f"choose seq_len as a multiple of seg_len"
            )
        shift, scale = window_stats(x, lengths, self.norm)
        x = (x - shift) / scale
        x = x.transpose(1, 2).reshape(batch * channels, steps // self.seg_len, self.seg_len)
        # (B, L, C) -> (B, C, L) -> (B*C, N, w)
        y = torch.relu(self.embed(x))  # (B*C, N, d)
        return y, (lengths // self.seg_len).repeat_interleave(channels)


def conv_lengths(lengths: Tensor, stride: int = 2) -> Tensor:
    """Frames after a kernel-3, padding-1 convolution of `stride`: ``(n - 1) // stride + 1``."""
    return torch.div(lengths - 1, stride, rounding_mode="floor") + 1


def standardise(spec: Tensor, mask: Tensor, frames: Tensor, norm: str) -> Tensor:
    """Standardise log-mel `spec` (B, n_mels, T) over each utterance's valid frames (`mask`, `frames`
    of them): each band with its own mean and deviation (``band``), or all bands with one
    (``utterance``); padded frames become 0."""
    count = frames.view(-1, 1, 1).to(spec.dtype)
    dims = (-1,) if norm == "band" else (-2, -1)  # per band, or over all bands, of each utterance
    if norm == "utterance":
        count = count * spec.shape[1]
    mean = (spec * mask).sum(dims, keepdim=True) / count  # over the valid frames
    std = ((((spec - mean) * mask) ** 2).sum(dims, keepdim=True) / count).sqrt() + 1e-5
    return (spec - mean) / std * mask


def warp_matrix(bins: int, factor: float) -> Tensor:
    """(bins, bins) matrix that warps a linear-frequency power spectrum (a column of `bins` bins from
    0 Hz to Nyquist) by `factor`: output bin f takes the input at f / factor, linearly interpolated
    (beyond the top bin, the top bin), so energy at frequency x moves to factor * x. Vocal tract
    length normalisation: a shorter vocal tract puts every formant higher by about the same factor.

    Example:
        >>> warp_matrix(5, 1.0).equal(torch.eye(5))
        True
        >>> (warp_matrix(5, 2.0) @ torch.tensor([0.0, 1, 0, 0, 0])).tolist()  # bin 1 moves to bin 2
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    source = (torch.arange(bins, dtype=torch.float64) / factor).clamp(max=bins - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=bins - 1)
    weight = source - low
    matrix = torch.zeros(bins, bins, dtype=torch.float64)
    rows = torch.arange(bins)
    matrix.index_put_((rows, low), 1 - weight, accumulate=True)
    matrix.index_put_((rows, high), weight, accumulate=True)
    return matrix.float()


class ConvSpectrogram(nn.Module):
    """Log-mel spectrogram, SpecAugment while training, two stride-2 convolutions, a projection.

    The CNN half of the CNN+RNN speech model: (B, samples, 1) waveforms become (B, T/4, dim)
    feature sequences. Frames are cut without edge padding and every padded position is zeroed
    after each layer, so an utterance gives the same features alone as padded in a batch.

    Args:
        in_dim: input channels per sample (derived; the audio is mono, so 1).
        sample_rate: the audio's sample rate (derived from the data).
        n_mels: mel bands.
        window_ms: analysis window in milliseconds.
        hop_ms: frame shift in milliseconds.
        filters: output channels of each of the two convolutions.
        dim: size of each output frame.
        freq_masks: SpecAugment frequency masks per utterance (training only).
        freq_width: widest frequency mask, in mel bands.
        time_masks: SpecAugment time masks per utterance (training only).
        time_width: widest time mask, in frames.
        dropout: dropout on the output features.
        time_stride: frames per output frame, 4 (both convolutions stride 2 in time), 2 (the first
            only) or 1; the frequency axis is always reduced 4 times. Two times finer output frames
            give CTC room for short words at about twice the recurrent cost.
        norm: ``band`` standardises each mel band over the utterance (cepstral mean and variance
            normalisation); ``utterance`` uses one mean and deviation for all bands, which keeps the
            word's average spectral shape (telling short isolated words apart relies on it);
            ``both`` gives the convolutions the two views as two input channels.
        filter_db: while training, add a random smooth gain across the mel bands to each utterance
            (between -filter_db and +filter_db dB at `filter_points` evenly spaced bands, linear in
            between), as a microphone, a room or a voice colours the spectrum; 0: off. Per-band
            normalisation removes such a gain by itself; the other views learn to ignore it.
        filter_points: bands at which the random gain is drawn (at least 2).
        warp_perturb: while training, warp each utterance's spectrum (`warp_matrix`) by a random
            factor in [1 - p, 1 + p]: vocal tract length perturbation (Jaitly and Hinton, 2013),
            formants moved without the change of tempo a speed perturbation brings; 0: off.

    Attributes:
        warp: frequency warp of the spectrum before the mel bands (`warp_matrix`), 1.0 (none) as
            trained; ``seqkit transcribe --warp auto`` sets the one that suits a new voice best.

    Example:
        >>> conv = ConvSpectrogram(in_dim=1, sample_rate=8000, n_mels=40, filters=8, dim=32)
        >>> y, lengths = conv(torch.randn(2, 8000, 1), torch.tensor([8000, 5001]))
        >>> tuple(y.shape), lengths.tolist()
        ((2, 25, 32), [25, 16])
    """

    def __init__(self, in_dim: int = 1, sample_rate: int = 8000, n_mels: int = 40, window_ms: float = 25.0,
                 hop_ms: float = 10.0, filters: int = 32, dim: int = 256, freq_masks: int = 2,
                 freq_width: int = 8, time_masks: int = 2, time_width: int = 10, dropout: float = 0.0,
                 time_stride: int = 4, norm: str = "band", filter_db: float = 0.0, filter_points: int = 4,
                 warp_perturb: float = 0.0):
        super().__init__()
        if norm not in ("band", "utterance", "both"):
            raise SeqkitError(f"conv_spectrogram norm must be band, utterance or both, got {norm!r}")
        if filter_db < 0 or filter_points < 2:
            raise SeqkitError(f"conv_spectrogram filter_db must be >= 0 and filter_points >= 2, got "
                              f"{filter_db} and {filter_points}")
        if not 0.0 <= warp_perturb < 0.5:
            raise SeqkitError(f"conv_spectrogram warp_perturb must be in [0, 0.5), got {warp_perturb}")
        self.norm, self.filter_db, self.filter_points = norm, filter_db, filter_points
        self.warp_perturb = warp_perturb
        if time_stride not in (1, 2, 4):
            raise SeqkitError(f"conv_spectrogram time_stride must be 1, 2 or 4, got {time_stride}")
        import torchaudio

        self.n_fft = int(round(sample_rate * window_ms / 1000))
        self.hop = int(round(sample_rate * hop_ms / 1000))
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=self.n_fft, hop_length=self.hop, n_mels=n_mels, center=False,
            f_min=20.0, f_max=sample_rate / 2,
        )
        self.freq_mask = torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
        self.time_mask = torchaudio.transforms.TimeMasking(time_width, iid_masks=True)
        self.freq_masks, self.time_masks = freq_masks, time_masks
        self.strides = (min(time_stride, 2), time_stride // 2 if time_stride > 1 else 1)  # in time, per conv
        self.conv1 = nn.Conv2d(2 if norm == "both" else 1, filters, 3, stride=(self.strides[0], 2), padding=1)
        self.conv2 = nn.Conv2d(filters, filters, 3, stride=(self.strides[1], 2), padding=1)
        bands = conv_lengths(conv_lengths(torch.tensor(n_mels))).item()
        self.project = nn.Linear(filters * bands, dim)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = dim
        self.provides = {}
        self.warp = 1.0

    @property
    def frame_ms(self) -> float:
        """Duration of one output frame: the hop times the convolutions' strides in time."""
        return 1000 * self.hop / self.mel.sample_rate * self.strides[0] * self.strides[1]

    def frames(self, lengths: Tensor) -> Tensor:
        """Spectrogram frames of waveforms of `lengths` samples (at least 1)."""
        return (torch.div(lengths - self.n_fft, self.hop, rounding_mode="floor") + 1).clamp(min=1)

    def features(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised log-mel spectrogram (B, n_mels, T) with padded frames zeroed, and frame counts;
        with ``norm: both``, (B, 2, n_mels, T): per utterance, then per band."""
        wave = x[..., 0]  # (B, samples, 1) -> (B, samples)
        if wave.shape[1] < self.n_fft:  # shorter than one window: pad to one frame
            wave = nn.functional.pad(wave, (0, self.n_fft - wave.shape[1]))
        with torch.autocast(wave.device.type, enabled=False):
            perturb = self.training and self.warp_perturb > 0
            if self.warp == 1.0 and not perturb:
                power = self.mel(wave.float())
            else:  # warp the linear-frequency spectrum, then the same mel bands
                power = self.mel.spectrogram(wave.float())  # (B, bins, T)
                if perturb:  # one random factor per utterance: (B, bins, bins)
                    factors = self.warp * torch.empty(len(power)).uniform_(1 - self.warp_perturb, 1 + self.warp_perturb)
                    warps = torch.stack([warp_matrix(power.shape[1], float(f)) for f in factors])
                else:  # one for all: (bins, bins)
                    warps = warp_matrix(power.shape[1], self.warp)
                power = self.mel.mel_scale(torch.matmul(warps.to(power.device), power))
            spec = (power + 1e-6).log()  # (B, n_mels, T)
        if self.training and self.filter_db > 0:
            gains = torch.empty(spec.shape[0], 1, self.filter_points, device=spec.device).uniform_(-1, 1)
            gains = nn.functional.interpolate(gains, size=spec.shape[1], mode="linear", align_corners=True)
            spec = spec + gains.transpose(1, 2) * (self.filter_db * math.log(10) / 10)  # dB -> log of power
        frames = self.frames(lengths.to(spec.device))
        mask = (torch.arange(spec.shape[-1], device=spec.device)[None, :] < frames[:, None]).unsqueeze(1)
        if self.norm == "both":
            return torch.stack([standardise(spec, mask, frames, "utterance"),
                                standardise(spec, mask, frames, "band")], dim=1), frames
        return standardise(spec, mask, frames, self.norm), frames

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        spec, frames = self.features(x, lengths)
        if spec.dim() == 3:
            spec = spec.unsqueeze(1)  # (B, n_mels, T) -> (B, 1, n_mels, T): one view
        if self.training and (self.freq_masks or self.time_masks):
            keep = torch.ones_like(spec[:, 0])  # (B, n_mels, T): the same masks for every view
            for _ in range(self.freq_masks):
                keep = self.freq_mask(keep)
            for _ in range(self.time_masks):
                keep = self.time_mask(keep)
            spec = spec * keep.unsqueeze(1)
        y = spec.transpose(2, 3)  # (B, views, n_mels, T) -> (B, views, T, n_mels)
        lengths = frames
        for conv, stride in ((self.conv1, self.strides[0]), (self.conv2, self.strides[1])):
            lengths = conv_lengths(lengths, stride)
            y = torch.relu(conv(y))
            valid = torch.arange(y.shape[2], device=y.device)[None, :] < lengths[:, None]
            y = y * valid[:, None, :, None]  # zero the padded frames, as zero padding would be alone
        y = y.permute(0, 2, 1, 3).flatten(2)  # (B, C, T', F/4) -> (B, T', C, F/4) -> (B, T', C*F/4)
        return self.dropout(self.project(y)), lengths


class Embedding(nn.Module):
    """Token embeddings: ids (B, T) -> vectors (B, T, dim), with dropout on the vectors.

    The `softmax` head ties its output weights to this table when the sizes allow.

    Args:
        vocab_size: tokens of the tokenizer (derived from the data).
        dim: size of each token's vector.
        dropout: dropout on the embedded vectors while training.
        locked: make `dropout` locked (variational): one mask per sequence and feature, shared by
            all time steps.
        word_dropout: while training, drop whole words (AWD-LSTM's embedding dropout): each word of
            the table is zeroed at all its occurrences in the batch with this probability, the kept
            ones scaled by 1/(1 - p); the (tied) table itself is untouched. 0: off.

    Example:
        >>> embed = Embedding(vocab_size=65, dim=32)
        >>> y, lengths = embed(torch.randint(0, 65, (2, 10)), torch.tensor([10, 7]))
        >>> tuple(y.shape), embed.out_dim
        ((2, 10, 32), 32)
    """

    def __init__(self, vocab_size: int, dim: int = 256, dropout: float = 0.0, locked: bool = False,
                 word_dropout: float = 0.0):
        super().__init__()
        if vocab_size < 1 or dim < 1:
            raise SeqkitError(f"embedding vocab_size and dim must be positive, got {vocab_size} and {dim}")
        check_fraction("embedding word_dropout", word_dropout)
        self.embedding = nn.Embedding(vocab_size, dim)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)  # small: the table is also the output layer when tied
        self.dropout = dropout_layer(dropout, locked)
        self.word_dropout = word_dropout
        self.out_dim = dim
        self.provides = {"embedding": self.embedding}  # for the head's tied weights

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() == 3 and x.shape[-1] == 1:
            x = x.squeeze(-1)  # (B, T, 1) -> (B, T)
        if x.dim() != 2 or x.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
            raise SeqkitError(f"the embedding front-end reads token ids (B, T) of integers, got "
                              f"{x.dtype} {tuple(x.shape)}: use it on text")
        x = x.long()
        y = self.embedding(x)  # (B, T, dim)
        if self.training and self.word_dropout > 0:  # one draw per word of the vocabulary, for the batch
            keep = y.new_empty(self.embedding.num_embeddings).bernoulli_(1 - self.word_dropout)
            y = y * (keep / (1 - self.word_dropout))[x].unsqueeze(-1)  # as embedding a masked table, cheaper
        return self.dropout(y), lengths
