"""Heads: turn back-end outputs into a task's predictions; each owns its loss and metrics."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix
from torchmetrics.text import CharErrorRate, WordErrorRate
from torchmetrics.wrappers import LambdaInputTransformer

from seqkit.blocks.ctc import beam_search, greedy
from seqkit.blocks.norm import NORMS, window_stats
from seqkit.errors import SeqkitError

LOSSES = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss}


class Forecast(nn.Module):
    """Project back-end states to future values and undo the front-end's normalisation.

    After a decoding back-end (`segrnn`), each of its ``out_steps`` states becomes one segment of
    ``pred_len / out_steps`` values (Dropout + Linear). After a plain recurrent back-end, the last
    valid state becomes all ``pred_len`` values at once. Rows that hold single channels (the
    `segmenter`'s) are folded back to (B, pred_len, C).

    Args:
        in_dim: size of the back-end's states (derived).
        pred_len: steps to forecast (derived from the data).
        channels: channels of the series (derived from the data).
        out_steps: decoding steps of the back-end, 0 if it only encodes (derived).
        per_channel: the batch rows are single channels (derived from the front-end).
        norm: the front-end's normalisation to undo (derived from the front-end).
        dropout: dropout before the projection.
        loss: ``mse`` or ``mae``.

    Example:
        >>> head = Forecast(in_dim=32, pred_len=96, channels=7, out_steps=4, per_channel=True)
        >>> y, _ = head(torch.randn(14, 4, 32), torch.full((14,), 4), torch.randn(2, 720, 7), None)
        >>> tuple(y.shape)
        (2, 96, 7)
    """

    def __init__(
        self,
        in_dim: int,
        pred_len: int,
        channels: int = 1,
        out_steps: int = 0,
        per_channel: bool = False,
        norm: str = "none",
        dropout: float = 0.0,
        loss: str = "mse",
    ):
        super().__init__()
        if loss not in LOSSES:
            raise SeqkitError(f"forecast loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if norm not in NORMS:
            raise SeqkitError(f"forecast norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.pred_len, self.channels, self.out_steps = pred_len, channels, out_steps
        self.per_channel, self.norm, self.loss_name = per_channel, norm, loss
        width = pred_len // out_steps if out_steps else pred_len  # values per state
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, width if per_channel else width * channels)
        self.out_dim = channels

    def forward(self, x: Tensor, lengths: Tensor, inputs: Tensor, input_lengths: Tensor | None):
        if not self.out_steps:  # one state per row: the last valid one
            x = x[torch.arange(x.shape[0], device=x.device), (lengths - 1).clamp(min=0)].unsqueeze(1)
        y = self.project(self.dropout(x))  # (rows, steps, width)
        batch = inputs.shape[0]
        if self.per_channel:
            y = y.reshape(batch, self.channels, self.pred_len).transpose(1, 2)
            # (B*C, m, w) -> (B, C, H) -> (B, H, C)
        else:
            y = y.reshape(batch, -1, self.channels, y.shape[-1] // self.channels)
            y = y.transpose(2, 3).reshape(batch, self.pred_len, self.channels)
            # (B, m, C*w) -> (B, m, C, w) -> (B, m, w, C) -> (B, H, C)
        if input_lengths is None:
            input_lengths = torch.full((batch,), inputs.shape[1], device=inputs.device)
        shift, scale = window_stats(inputs, input_lengths, self.norm)
        y = y * scale + shift
        return y, torch.full((batch,), self.pred_len, device=y.device)

    def loss(self, predictions: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """The training loss of `predictions` against ``batch["targets"]`` (B, H, C)."""
        return LOSSES[self.loss_name](predictions, batch["targets"])

    def metrics(self, scaler: dict | None = None, **info) -> MetricCollection:
        """The test metrics: MSE and MAE on the scaled values the model sees and, given the data's
        ``scaler`` (per-channel ``mean`` and ``std`` lists), on the original scale too."""
        metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}
        if scaler:
            unscale = self.unscale(scaler)
            for name, metric in list(metrics.items()):
                metrics[name + "_original"] = LambdaInputTransformer(metric.clone(), unscale, unscale)
        return MetricCollection(metrics)

    @staticmethod
    def unscale(scaler: dict) -> Unscale:
        """The map from scaled values back to the original scale, from a data ``scaler``."""
        return Unscale(scaler["mean"], scaler["std"])

    def update(self, metrics: MetricCollection, predictions: Tensor, lengths: Tensor, batch: dict) -> None:
        metrics.update(predictions.contiguous(), batch["targets"].contiguous())


class Unscale:
    """Map standardised values (..., C) back to the original scale: ``x * std + mean``."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def __call__(self, x: Tensor) -> Tensor:
        return x * self.std.to(x.device, x.dtype) + self.mean.to(x.device, x.dtype)


class CTC(nn.Module):
    """Per-frame classes over the units plus a blank, trained with CTC; greedy or beam decoding.

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: units of the tokenizer (derived from the data); class 0 is the blank.
        dropout: dropout before the projection.
        beam: beam width of the beam-search metrics (greedy ones are always reported).

    Example:
        >>> head = CTC(in_dim=16, vocab_size=5)
        >>> log_probs, lengths = head(torch.randn(2, 30, 16), torch.tensor([30, 20]), None, None)
        >>> tuple(log_probs.shape), head.decode(log_probs, lengths, beam=1)[1] == head.decode(log_probs, lengths)[1]
        ((2, 30, 6), True)
    """

    def __init__(self, in_dim: int, vocab_size: int, dropout: float = 0.0, beam: int = 8):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, vocab_size + 1)
        self.beam = beam
        self.scorer = None  # a language model for the beam search, see `fuse`
        self.lexicon = None  # the words the beam search may spell, see `constrain`
        self.out_dim = vocab_size + 1

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        return self.project(self.dropout(x)).float().log_softmax(-1), lengths

    def loss(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """CTC loss per target unit, averaged over the batch; impossible alignments count zero."""
        return nn.functional.ctc_loss(
            log_probs.transpose(0, 1), batch["targets"] + 1, lengths, batch["target_lengths"],
            blank=0, reduction="mean", zero_infinity=True,
        )  # (B, T, V) -> (T, B, V); unit u is class u + 1

    def decode(self, log_probs: Tensor, lengths: Tensor, beam: int = 1) -> list[list[int]]:
        """Unit ids per utterance: greedy for ``beam=1``, else prefix beam search (with the
        language model given to `fuse` and the words given to `constrain`, if any)."""
        if beam <= 1:
            classes = greedy(log_probs, lengths)
        else:
            classes = beam_search(log_probs, lengths, beam, self.scorer, self.lexicon)
        return [[c - 1 for c in row] for row in classes]

    def fuse(self, scorer) -> None:
        """Score beam-search prefixes with a language model from now on (None: stop)."""
        self.scorer = scorer

    def constrain(self, lexicon) -> None:
        """Let the beam search spell only the words of a `seqkit.blocks.ctc.Lexicon` from now on
        (None: any unit sequence)."""
        self.lexicon = lexicon

    @staticmethod
    def choose(log_probs: Tensor, lengths: Tensor, choices: list[list[int]]) -> tuple[list[int], list[float]]:
        """Decoding restricted to a closed set: for every utterance, the index of the most likely
        of `choices` (unit-id sequences) and its log-likelihood, summed over all its alignments
        (``-inf`` when the utterance has too few frames for any of them).

        Isolated-word recognition with a fixed vocabulary is this with one word per choice.

        Example:
            >>> lp = torch.log(torch.tensor([[[.1, .6, .3], [.6, .1, .3], [.6, .1, .3]]]))  # blank, 0, 1
            >>> greedy(lp, torch.tensor([3]))  # class 1 = unit 0, not one of the choices below
            [[1]]
            >>> CTC.choose(lp, torch.tensor([3]), [[1], [0, 1]])[0]  # P(0 1) = 0.291 > P(1) = 0.234
            [1]
        """
        frames = log_probs.transpose(0, 1).float()  # (B, T, V) -> (T, B, V)
        batch = log_probs.shape[0]
        scores = []
        for choice in choices:
            targets = torch.tensor(choice, device=log_probs.device).add(1).expand(batch, -1)  # unit u: class u + 1
            nats = nn.functional.ctc_loss(frames, targets, lengths, torch.full((batch,), len(choice)), blank=0,
                                          reduction="none", zero_infinity=False)
            scores.append(-nats)
        best, index = torch.stack(scores, 1).max(1)  # (B, choices) -> (B,)
        return index.tolist(), best.tolist()

    def metrics(self, tokenizer=None, **info) -> MetricCollection:
        """Word and character error rates of greedy and beam decoding."""
        from seqkit.data.text import tokenizer_from_data

        metrics = MetricCollection({"wer": WordErrorRate(), "cer": CharErrorRate(),
                                    "wer_beam": WordErrorRate(), "cer_beam": CharErrorRate()})
        metrics.tokenizer = tokenizer_from_data(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        return metrics

    def update(self, metrics: MetricCollection, log_probs: Tensor, lengths: Tensor, batch: dict) -> None:
        tokenizer = metrics.tokenizer
        for suffix, beam in (("", 1), ("_beam", self.beam)):
            texts = [tokenizer.decode(ids) for ids in self.decode(log_probs, lengths, beam)]
            metrics["wer" + suffix].update(texts, batch["texts"])
            metrics["cer" + suffix].update(texts, batch["texts"])


class Softmax(nn.Module):
    """Next-token probabilities over the vocabulary, trained with cross-entropy.

    With ``tie`` and an `embedding` front-end, the output weights are the embedding table itself
    (one shared tensor, Press & Wolf 2017); when the back-end's size differs from the table's, a
    linear projection to the embedding size comes first.

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: tokens of the tokenizer (derived from the data).
        embedding: the front-end's ``nn.Embedding`` (derived), for tying.
        tie: share the output weights with the embedding when there is one.
        dropout: dropout on the back-end's states.
        stride: input steps per back-end step (derived; must be 1: one prediction per token).

    Example:
        >>> from seqkit.blocks.frontends import Embedding
        >>> embed = Embedding(vocab_size=65, dim=32)
        >>> head = Softmax(in_dim=48, vocab_size=65, embedding=embed.embedding)
        >>> logits, lengths = head(torch.randn(2, 10, 48), torch.tensor([10, 10]), None, None)
        >>> tuple(logits.shape), head.weight is embed.embedding.weight
        ((2, 10, 65), True)
    """

    def __init__(self, in_dim: int, vocab_size: int, embedding: nn.Embedding | None = None, tie: bool = True,
                 dropout: float = 0.0, stride: int = 1):
        super().__init__()
        if stride != 1:
            raise SeqkitError(f"the softmax head predicts the next token at every step, but the back-end joins "
                              f"{stride} steps into one (segrnn's group); use rnn, lstm or gru, or segrnn with group=1")
        self.dropout = nn.Dropout(dropout)
        tied = tie and embedding is not None and embedding.num_embeddings == vocab_size
        width = embedding.embedding_dim if tied else in_dim
        self.project = nn.Linear(in_dim, width) if width != in_dim else nn.Identity()
        self.weight = embedding.weight if tied else nn.Parameter(torch.empty(vocab_size, in_dim).normal_(0, 0.02))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.tied = tied
        self.out_dim = vocab_size

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        x = self.project(self.dropout(x))  # (B, T, H) -> (B, T, E)
        return nn.functional.linear(x, self.weight, self.bias).float(), lengths  # (B, T, V)

    def loss(self, logits: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """Mean cross-entropy (nats) per target token; steps past a row's length are ignored."""
        return self.nats(logits, lengths, batch["targets"]).sum() / lengths.sum().clamp(min=1)

    @staticmethod
    def nats(logits: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of every target token (B, T); zero past each row's length."""
        steps = torch.arange(targets.shape[1], device=targets.device)
        valid = steps.unsqueeze(0) < lengths.to(targets.device).unsqueeze(1)  # (B, T)
        nats = nn.functional.cross_entropy(logits.transpose(1, 2), targets.masked_fill(~valid, -100),
                                           reduction="none")  # (B, V, T) against (B, T)
        return nats

    def metrics(self, **info) -> TokenScores:
        return TokenScores()

    def update(self, metrics: TokenScores, logits: Tensor, lengths: Tensor, batch: dict) -> None:
        nats = self.nats(logits, lengths, batch["targets"])
        metrics.update(nats.sum(), int(lengths.sum()), batch.get("chars", int(lengths.sum())))


class TokenScores(Metric):
    """Cross-entropy summed over tokens: loss (nats per token), perplexity and bits per character.

    Bits per character divide the total by the characters of the original text that the tokens
    stand for, so models over characters and over sentencepiece pieces compare.

    Example:
        >>> scores = TokenScores()
        >>> scores.update(torch.tensor(4 * math.log(2)), tokens=2, chars=4)
        >>> {k: round(float(v), 4) for k, v in scores.compute().items()}
        {'loss': 1.3863, 'bpc': 1.0, 'perplexity': 4.0}
    """

    full_state_update = False

    def __init__(self):
        super().__init__()
        for name in ("nats", "tokens", "chars"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, nats: Tensor, tokens: int, chars: int) -> None:
        self.nats += nats.double()
        self.tokens += tokens
        self.chars += chars

    def compute(self) -> dict[str, Tensor]:
        loss = self.nats / self.tokens
        return {"loss": loss, "bpc": self.nats / self.chars / math.log(2), "perplexity": loss.exp()}


class Classify(nn.Module):
    """One class per sequence: pool the back-end's states over each sequence's valid steps, then
    Dropout + Linear to the classes; cross-entropy, accuracy and a confusion matrix.

    The classes are the tokenizer's units, and each sequence's target is its single unit (a
    spoken digit with ``data.task=isolated data.units=words``).

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: the classes: units of the tokenizer (derived from the data).
        pooling: ``mean`` over the valid steps, ``max`` over them, or the ``last`` valid one.
        dropout: dropout before the projection.

    Example:
        >>> head = Classify(in_dim=16, vocab_size=10)
        >>> logits, lengths = head(torch.randn(3, 20, 16), torch.tensor([20, 15, 4]))
        >>> tuple(logits.shape), lengths.tolist()
        ((3, 10), [1, 1, 1])
    """

    POOLINGS = ("mean", "max", "last")

    def __init__(self, in_dim: int, vocab_size: int, pooling: str = "mean", dropout: float = 0.0):
        super().__init__()
        if pooling not in self.POOLINGS:
            raise SeqkitError(f"classify pooling must be one of {', '.join(self.POOLINGS)}, got {pooling!r}")
        self.pooling, self.classes = pooling, vocab_size
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(in_dim, vocab_size)
        self.out_dim = vocab_size

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        steps = torch.arange(x.shape[1], device=x.device)
        valid = (steps.unsqueeze(0) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
        if self.pooling == "mean":
            pooled = (x * valid).sum(1) / valid.sum(1).clamp(min=1)  # (B, T, H) -> (B, H)
        elif self.pooling == "max":
            pooled = x.masked_fill(~valid, float("-inf")).amax(1)
        else:
            pooled = x[torch.arange(x.shape[0], device=x.device), (lengths - 1).clamp(min=0)]
        logits = self.project(self.dropout(pooled)).float()  # (B, classes)
        return logits, torch.ones_like(lengths)

    def labels(self, batch: dict) -> Tensor:
        """Each sequence's class: its one target unit."""
        lengths = batch.get("target_lengths")
        if lengths is not None and bool((lengths != 1).any()):
            raise SeqkitError("the classify head needs exactly one unit per sequence: use data.task=isolated "
                              "with data.units=words")
        return batch["targets"].reshape(len(batch["targets"]), -1)[:, 0]

    def loss(self, logits: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        return nn.functional.cross_entropy(logits, self.labels(batch))

    def metrics(self, **info) -> MetricCollection:
        """Accuracy and the confusion matrix (rows: true class, columns: predicted)."""
        return MetricCollection({"accuracy": MulticlassAccuracy(self.classes, average="micro"),
                                 "confusion": MulticlassConfusionMatrix(self.classes)})

    def update(self, metrics: MetricCollection, logits: Tensor, lengths: Tensor, batch: dict) -> None:
        metrics.update(logits, self.labels(batch))
