"""MCC: minimum class confusion (Jin et al. 2020, "Minimum Class Confusion for Versatile Domain
Adaptation"), with no discriminator.

On a target batch, temperature-scaled predictions ``Y = softmax(logits / T)`` (B x K) and the
entropy weights ``W_i = B (1 + exp(-H(Y_i))) / sum_j (1 + exp(-H(Y_j)))`` (their Eq. 3-4) give the
class-correlation matrix ``C = Y^T diag(W) Y`` (Eq. 5), normalised by rows (Eq. 6).  Its
off-diagonal mass is how often the model confuses two classes on the target:

    min_{E, C}  CE(C(E(x_s)), y_s) + weight * (1/K) sum_{j != j'} C~_{jj'}          (Eq. 7-8)
"""

from __future__ import annotations

import torch

from adda.checks import positive
from adda.losses import certainty_weights
from adda.methods.base import TargetBatchTerm
from adda.registry import METHODS


def class_confusion(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The row-normalised, certainty-weighted class-correlation matrix (K x K) of a batch."""
    probs = (logits / temperature).softmax(1)
    confusion = probs.T @ (certainty_weights(probs)[:, None] * probs)
    return confusion / confusion.sum(1, keepdim=True)


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    confusion = class_confusion(logits, temperature)
    return (confusion.sum() - confusion.trace()) / len(confusion)


@METHODS.register("mcc")
class MinimumClassConfusion(TargetBatchTerm):
    tag = "loss/class_confusion"

    def __init__(self, backbone, discriminator, optim, steps, weight: float = 1.0, temperature: float = 2.5):
        super().__init__(backbone, discriminator, optim, steps, weight)
        self.temperature = positive("temperature", temperature)

    def term(self, target_logits: torch.Tensor) -> torch.Tensor:
        return mcc_loss(target_logits, self.temperature)
