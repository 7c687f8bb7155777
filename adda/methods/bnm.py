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
import torch.nn.functional as F

from adda.checks import non_negative
from adda.losses import batch_nuclear_norm
from adda.methods.base import Batch, Method
from adda.registry import METHODS


@METHODS.register("bnm")
class BatchNuclearNormMaximisation(Method):
    uses_discriminator = False

    def __init__(self, backbone, discriminator, optim, steps, weight: float = 1.0):
        super().__init__(backbone, discriminator, optim, steps)
        self.weight = non_negative("weight", weight)
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        (xs, ys), (xt, _) = source, target
        logits = self.backbone(torch.cat([xs, xt]))
        n = len(xs)
        class_loss = F.cross_entropy(logits[:n], ys)
        nuclear = batch_nuclear_norm(logits[n:].softmax(1))
        self.step(self.optimizers["model"], class_loss - self.weight * nuclear)
        return {
            "loss/class": class_loss.detach(),
            "bnm/target_nuclear_norm": nuclear.detach(),
            "acc/source_batch": (logits[:n].detach().argmax(1) == ys).float().mean(),
        }
