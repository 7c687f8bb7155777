"""Source-only baseline: the classifier never sees the target domain.

min_{E, C}  E_{(x, y) ~ S} CE(C(E(x)), y)
"""

from __future__ import annotations

import torch.nn.functional as F

from adda.methods.base import Batch, Method, PhaseLoss, Tensors
from adda.registry import METHODS


@METHODS.register("source_only")
class SourceOnly(Method):
    """Plain supervised training on the labelled batch of domain ``trains_on``."""

    uses_target = False
    uses_discriminator = False
    trains_on = "source"

    def __init__(self, backbone, discriminator, optim, steps) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        return [("model", self.class_loss)]

    def class_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        x, y = source if self.trains_on == "source" else target
        logits = self.backbone(x)
        loss = F.cross_entropy(logits, y)
        metrics = {
            "loss/class": loss.detach(),
            f"acc/{self.trains_on}_batch": (logits.detach().argmax(1) == y).float().mean(),
        }
        return loss, metrics, carry
