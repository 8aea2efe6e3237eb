"""The softmax head of language models: next-token cross-entropy, tied weights, token scores."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from seqkit.errors import SeqkitError


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
