"""The dropouts of AWD-LSTM language models (Merity et al. 2017): locked dropout and weight drop.

Locked (variational, Gal & Ghahramani 2016) dropout drops the same features at every time step of a
sequence; weight drop (DropConnect, Wan et al. 2013) drops elements of a recurrent layer's
hidden-to-hidden weight matrices instead of its activations, so the fused recurrent kernel still
runs over all time steps with one dropped matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from seqkit.errors import SeqkitError


def check_fraction(name: str, p: float) -> None:
    """One-line error unless the dropout fraction `p` of setting `name` is in [0, 1).

    Example:
        >>> check_fraction("lstm weight_drop", 1.0)
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: lstm weight_drop must be in [0, 1) (a fraction to drop), got 1.0
    """
    if not 0.0 <= p < 1.0:
        raise SeqkitError(f"{name} must be in [0, 1) (a fraction to drop), got {p}")


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence and feature, shared by all its time steps.

    While training, each feature of each sequence of a (B, T, D) batch is zeroed with probability
    `p` at every step or at none, and the kept ones are scaled by 1/(1 - p); in evaluation it is the
    identity. Holds no parameters or buffers, so it can replace an ``nn.Dropout`` of a saved model.

    Args:
        p: fraction of features dropped, in [0, 1).

    Example:
        >>> drop = LockedDropout(0.5)
        >>> y = drop(torch.ones(2, 4, 3))
        >>> bool((y == y[:, :1]).all()), set(y.flatten().tolist()) <= {0.0, 2.0}
        (True, True)
        >>> bool(drop.eval()(torch.ones(2, 4, 3)).eq(1).all())
        True
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        check_fraction("locked dropout", p)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[-1]).bernoulli_(1 - self.p) / (1 - self.p)  # (B, 1, D)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_layer(p: float, locked: bool) -> nn.Module:
    """`LockedDropout` if `locked`, else ``nn.Dropout``: neither has a state, so a model's keys are the same."""
    return LockedDropout(p) if locked else nn.Dropout(p)


def weight_dropped(rnn: nn.RNNBase, p: float) -> Callable:
    """`rnn` with DropConnect on its hidden-to-hidden weights: call it as `rnn` itself.

    Draws one mask for each ``weight_hh_*`` matrix (elements zeroed with probability `p`, the kept
    ones scaled by 1/(1 - p)) and returns a function that runs `rnn`'s fused kernel with these
    matrices (`torch.func.functional_call`), as many times as it is called. The module's own
    parameters stay as they are: the optimiser updates them, and their gradients flow through the
    masks.

    Example:
        >>> lstm = nn.LSTM(3, 4, batch_first=True)
        >>> y, (h, c) = weight_dropped(lstm, 0.5)(torch.randn(2, 5, 3))
        >>> tuple(y.shape), lstm.weight_hh_l0 is dict(lstm.named_parameters())["weight_hh_l0"]
        ((2, 5, 4), True)
    """
    dropped = {name: weight * (torch.rand_like(weight) >= p).to(weight.dtype).mul_(1 / (1 - p))
               for name, weight in rnn.named_parameters() if name.startswith("weight_hh")}  # rand: 3x bernoulli's speed

    def run(*args):
        return torch.func.functional_call(rnn, dropped, args)

    return run
