"""The seed repo's minimax game, with alternating updates.

    classifier (E, C):  min  CE(C(E(x_s)), y_s) - lambda_p * L_dom(D(E(x)))   k_classifier steps
    discriminator D:    min  L_dom(D(E(x)))                                   k_discriminator steps

``L_dom`` is the domain cross-entropy; ``-L_dom`` is unbounded, which makes this form
unstable (the reason later variants invert labels or target a uniform prediction).
``lambda_p`` is ``weight``, or with ``ramp`` DANN's schedule from 0 up to ``weight``.
The arguments' defaults are the seed's (10:1, constant weight); ``adda/conf/method/minimax.yaml``
alternates 1:1 on the ramp, because a discriminator ten steps stale lets the unbounded term push
the encoder off.
"""

from __future__ import annotations

import torch.nn.functional as F

from adda.checks import positive_int
from adda.losses import domain_loss
from adda.methods.base import Batch, Method, PhaseLoss, Tensors, weights_fixed
from adda.registry import METHODS


@METHODS.register("minimax")
class Minimax(Method):
    stacked_knobs = ("weight",)

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        weight: float = 1.0,
        k_classifier: int = 10,
        k_discriminator: int = 1,
        ramp: bool = False,
        ramp_gamma: float = 10.0,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.k_classifier = positive_int("k_classifier", k_classifier)
        self.k_discriminator = positive_int("k_discriminator", k_discriminator)
        self.lam = self.adversarial_weight(weight, ramp, ramp_gamma)
        self.per_run("weight", self.lam.weight)
        self.optimizers["classifier"] = self.optimizer(self.backbone)
        self.optimizers["discriminator"] = self.optimizer(self.discriminator)
        self.start_schedule()

    def is_discriminator_step(self, step: int) -> bool:
        return step % (self.k_classifier + self.k_discriminator) >= self.k_classifier

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        if self.is_discriminator_step(step):
            return [("discriminator", self.discriminator_loss)]
        return [("classifier", self.classifier_loss)]

    def classifier_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        taps = self.encode_both(xs, xt)
        logits = self.backbone.head(taps["features"][:n])
        class_loss = F.cross_entropy(logits, ys)
        d = weights_fixed(self.discriminator)(taps[self.discriminator.tap])
        dom_loss = domain_loss(d[:n], d[n:])
        metrics = {
            "loss/class": class_loss.detach(),
            "loss/domain": dom_loss.detach(),
            "acc/source_batch": (logits.detach().argmax(1) == ys).float().mean(),
        }
        return class_loss - self.weight * self.lam.ramp_at(step) * dom_loss, metrics, carry
