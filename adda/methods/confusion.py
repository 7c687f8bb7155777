"""Domain confusion (Tzeng et al. 2015, "Simultaneous deep transfer across domains and tasks").

    discriminator D:  min  L_dom(D(E(x)))                                        (domain CE)
    encoder E, C:     min  CE(C(E(x_s)), y_s) + lambda_p * sum_d  -1/2 [log D_d + log(1 - D_d)]

The encoder's term is the cross-entropy of the discriminator's prediction against the uniform
distribution (1/2, 1/2): it is smallest when D cannot tell the domains apart, and, unlike the
minimax form's ``-L_dom``, it is bounded below.  Each step updates D, then E and C.
``lambda_p`` is ``weight``, or with ``ramp`` DANN's schedule from 0 up to ``weight``.
Per logit z the encoder's gradient is ``sigmoid(z) - 1/2``: it stays at 1/2 while D is sure and right,
where the reversed cross-entropy of DANN and ``minimax`` fades to 0, so a weight that suits those
is too strong here (``adda/conf/method/confusion.yaml`` ramps up to 0.4).
"""

from __future__ import annotations

import torch.nn.functional as F

from adda.losses import confusion_loss
from adda.methods.base import Batch, Method, PhaseLoss, Tensors, weights_fixed
from adda.registry import METHODS


@METHODS.register("confusion")
class DomainConfusion(Method):
    stacked_knobs = ("weight",)

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        weight: float = 1.0,
        ramp: bool = False,
        ramp_gamma: float = 10.0,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.lam = self.adversarial_weight(weight, ramp, ramp_gamma)
        self.per_run("weight", self.lam.weight)
        self.optimizers["discriminator"] = self.optimizer(self.discriminator)
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        return [("discriminator", self.discriminator_loss), ("model", self.model_loss)]

    def model_loss(self, source: Batch, target: Batch, step: int, taps: Tensors):
        """The encoder and classifier on the same pass's features, against the updated discriminator."""
        ys, n = source[1], len(source[0])
        logits = self.backbone.head(taps["features"][:n])
        class_loss = F.cross_entropy(logits, ys)
        conf_loss = confusion_loss(weights_fixed(self.discriminator)(taps[self.discriminator.tap]))
        metrics = {
            "loss/class": class_loss.detach(),
            "loss/confusion": conf_loss.detach(),
            "acc/source_batch": (logits.detach().argmax(1) == ys).float().mean(),
        }
        return class_loss + self.weight * self.lam.ramp_at(step) * conf_loss, metrics, taps
