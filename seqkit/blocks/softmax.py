"""The heads of language models: the common part (`LanguageModelHead`), the tied softmax, token scores."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from seqkit.blocks.dropout import check_fraction, dropout_layer
from seqkit.errors import SeqkitError


def valid_steps(lengths: Tensor, steps: int, device=None) -> Tensor:
    """(B, T) mask of the steps before each row's length.

    Example:
        >>> valid_steps(torch.tensor([2, 3]), 3).int().tolist()
        [[1, 1, 0], [1, 1, 1]]
    """
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)


def activation_penalty(dropped: Tensor, states: Tensor, lengths: Tensor, ar: float, tar: float) -> Tensor:
    """AWD-LSTM's activation regularisation: ``ar * mean(dropped ** 2) + tar * mean((h[t+1] - h[t]) ** 2)``.

    Means over the valid steps (and pairs of consecutive valid steps) and the features of (B, T, D)
    states: `dropped` after the head's dropout, `states` before it. Without padding, AWD-LSTM's
    ``.pow(2).mean()`` of both.

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [0.0]]])
        >>> float(activation_penalty(h, h, torch.tensor([2]), ar=1.0, tar=0.5))  # (1 + 9) / 2 + 0.5 * 4
        7.0
    """
    valid = valid_steps(lengths, states.shape[1], states.device).unsqueeze(-1)  # (B, T, 1)
    features = states.shape[-1]
    penalty = ar * (dropped.float().pow(2) * valid).sum() / (valid.sum() * features).clamp(min=1)
    steps = states.float().diff(dim=1)  # (B, T - 1, D): h[t+1] - h[t]
    pairs = valid[:, 1:]  # step t + 1 valid: so is step t
    return penalty + tar * (steps.pow(2) * pairs).sum() / (pairs.sum() * features).clamp(min=1)


class LanguageModelHead(nn.Module):
    """What every language-model head shares: dropout on the back-end's states, AWD-LSTM's activation
    regularisation, the loss, the token scores. `isinstance(head, LanguageModelHead)` tells a language
    model (`seqkit generate`, LM fusion).

    A subclass's forward calls `states` and returns (B, T, V) scores whose softmax is the next-token
    distribution (logits or log-probabilities; a head may return something else while training, as
    long as its `nats` reads it), and defines `nats`: the cross-entropy of every target token.

    Args:
        dropout: dropout on the back-end's states.
        locked: make `dropout` locked (variational): one mask per sequence and feature, shared by
            all time steps.
        ar: activation regularisation (AWD-LSTM's alpha): adds ar * the mean square of the dropped
            states to the training loss; 0: off.
        tar: temporal activation regularisation (AWD-LSTM's beta): adds tar * the mean square of the
            differences of consecutive undropped states to the training loss; 0: off.
        stride: input steps per back-end step (derived; must be 1: one prediction per token).

    Attributes:
        penalty: ar and tar's term of the last training forward (a scalar tensor), None after an
            evaluation forward or once `loss` has added it (it adds it once); the only state kept.
    """

    def __init__(self, name: str, dropout: float = 0.0, locked: bool = False, ar: float = 0.0,
                 tar: float = 0.0, stride: int = 1):
        super().__init__()
        if stride != 1:
            raise SeqkitError(f"the {name} head predicts the next token at every step, but the back-end joins "
                              f"{stride} steps into one (segrnn's group); use rnn, lstm or gru, or segrnn with group=1")
        if ar < 0 or tar < 0:
            raise SeqkitError(f"the {name} head's ar and tar must be 0 (off) or more, got ar={ar} tar={tar}")
        if locked:
            check_fraction(f"the {name} head's dropout", dropout)
        self.dropout = dropout_layer(dropout, locked)
        self.ar, self.tar = ar, tar
        self.penalty: Tensor | None = None

    def states(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The back-end's states `x` after the dropout; records `penalty` while training with ar or tar."""
        dropped = self.dropout(x)
        if self.training and (self.ar or self.tar):
            self.penalty = activation_penalty(dropped, x, lengths, self.ar, self.tar)
        elif self.penalty is not None:  # (an exported or traced graph sets nothing)
            self.penalty = None
        return dropped

    def nats(self, output: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of every target token (B, T); zero past each row's length."""
        raise NotImplementedError

    def loss(self, output: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        """Mean cross-entropy (nats) per target token, steps past a row's length ignored; after a
        training forward with ar or tar, plus their `penalty`."""
        loss = self.nats(output, lengths, batch["targets"]).sum() / lengths.sum().clamp(min=1)
        penalty, self.penalty = self.penalty, None
        return loss if penalty is None else loss + penalty

    def metrics(self, **info) -> TokenScores:
        return TokenScores()

    def update(self, metrics: TokenScores, output: Tensor, lengths: Tensor, batch: dict) -> None:
        nats = self.nats(output, lengths, batch["targets"])
        metrics.update(nats.sum(), int(lengths.sum()), batch.get("chars", int(lengths.sum())))


class Softmax(LanguageModelHead):
    """Next-token probabilities over the vocabulary, trained with cross-entropy.

    With ``tie`` and an `embedding` front-end, the output weights are the embedding table itself
    (one shared tensor, Press & Wolf 2017); when the back-end's size differs from the table's, a
    linear projection to the embedding size comes first. Returns logits (B, T, V).

    Args:
        in_dim: size of the back-end's states (derived).
        vocab_size: tokens of the tokenizer (derived from the data).
        embedding: the front-end's ``nn.Embedding`` (derived), for tying.
        tie: share the output weights with the embedding when there is one.

    Example:
        >>> from seqkit.blocks.frontends import Embedding
        >>> embed = Embedding(vocab_size=65, dim=32)
        >>> head = Softmax(in_dim=48, vocab_size=65, embedding=embed.embedding)
        >>> logits, lengths = head(torch.randn(2, 10, 48), torch.tensor([10, 10]), None, None)
        >>> tuple(logits.shape), head.weight is embed.embedding.weight
        ((2, 10, 65), True)
    """

    def __init__(self, in_dim: int, vocab_size: int, embedding: nn.Embedding | None = None, tie: bool = True,
                 dropout: float = 0.0, stride: int = 1, locked: bool = False, ar: float = 0.0, tar: float = 0.0):
        super().__init__("softmax", dropout, locked, ar, tar, stride)
        tied = tie and embedding is not None and embedding.num_embeddings == vocab_size
        width = embedding.embedding_dim if tied else in_dim
        self.project = nn.Linear(in_dim, width) if width != in_dim else nn.Identity()
        self.weight = embedding.weight if tied else nn.Parameter(torch.empty(vocab_size, in_dim).normal_(0, 0.02))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.tied = tied
        self.out_dim = vocab_size

    def forward(self, x: Tensor, lengths: Tensor, inputs=None, input_lengths=None) -> tuple[Tensor, Tensor]:
        x = self.project(self.states(x, lengths))  # (B, T, H) -> (B, T, E)
        return nn.functional.linear(x, self.weight, self.bias).float(), lengths  # (B, T, V)

    @staticmethod
    def nats(logits: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of every target token (B, T); zero past each row's length."""
        valid = valid_steps(lengths, targets.shape[1], targets.device)  # (B, T)
        nats = nn.functional.cross_entropy(logits.transpose(1, 2), targets.masked_fill(~valid, -100),
                                           reduction="none")  # (B, V, T) against (B, T)
        return nats


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
