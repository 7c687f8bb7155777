"""Target oracle: the upper bound, trained on *labelled target* images.

    min_{E, C}  E_{(x, y) ~ T} CE(C(E(x)), y)

It reads target labels, so it is no adaptation method: results tables show it, marked, as the
accuracy the architecture reaches when the shift costs nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adda.methods.base import Batch, Method
from adda.registry import METHODS


@METHODS.register("target_oracle")
class TargetOracle(Method):
    uses_discriminator = False
    uses_target_labels = True

    def __init__(self, backbone, discriminator, optim, steps) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        xt, yt = target
        logits = self.backbone(xt)
        loss = F.cross_entropy(logits, yt)
        self.step(self.optimizers["model"], loss)
        return {
            "loss/class": loss.detach(),
            "acc/target_batch": (logits.detach().argmax(1) == yt).float().mean(),
        }
