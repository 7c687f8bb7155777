"""BNM: batch nuclear-norm maximisation (Cui et al. 2020, "Towards Discriminability and Diversity:
Batch Nuclear-norm Maximization under Label Insufficient Situations"), with no discriminator.

The nuclear norm of a batch's prediction matrix ``A`` (B x K softmax outputs) bounds both its
Frobenius norm (large when predictions are confident: discriminability) and its rank (large when
they spread over many classes: diversity), so maximising it on the target does both at once,
where entropy minimisation alone lets a batch collapse onto the majority classes:

    min_{E, C}  CE(C(E(x_s)), y_s)  -  weight * ||A_t||_* / B                      (their Eq. 8)

``weight`` 1 is the paper's for domain adaptation.
"""

from __future__ import annotations

import torch

from adda.losses import batch_nuclear_norm
from adda.methods.base import TargetBatchTerm
from adda.registry import METHODS


@METHODS.register("bnm")
class BatchNuclearNormMaximisation(TargetBatchTerm):
    sign = -1.0  # maximised
    tag = "bnm/target_nuclear_norm"

    def term(self, target_logits: torch.Tensor) -> torch.Tensor:
        return batch_nuclear_norm(target_logits.softmax(1))
