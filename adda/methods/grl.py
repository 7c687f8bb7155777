"""DANN: domain-adversarial training through a gradient reversal layer (Ganin & Lempitsky 2015).

    min_{E, C} max_D   CE(C(E(x_s)), y_s)  -  lambda_p * L_dom(D(E(x)))

one joint update: the reversal layer R_lambda is the identity forward and multiplies the gradient
by -lambda backward, so D descends L_dom while E ascends it.  lambda_p = 2 / (1 + exp(-10 p)) - 1
ramps from 0 to 1 over training progress p (their Section 5.2.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adda.losses import domain_accuracy, domain_loss, reverse_gradient
from adda.methods.base import Batch, Method, PhaseLoss, Tensors
from adda.registry import METHODS


@METHODS.register("grl")
class GradientReversal(Method):
    stacked_knobs = ("weight",)

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        weight: float = 1.0,
        ramp: bool = True,
        ramp_gamma: float = 10.0,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.lam = self.adversarial_weight(weight, ramp, ramp_gamma)
        self.per_run("weight", self.lam.weight)
        self.optimizers["model"] = self.optimizer(self.backbone, self.discriminator)
        self.start_schedule()

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        return [("model", self.joint_loss)]

    def domain_weights(self, logits: torch.Tensor, n: int) -> torch.Tensor | None:
        """Each image's weight in the domain loss (``None``: all the same; CDAN+E weighs them)."""
        return None

    def joint_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        taps = self.encode_both(xs, xt)
        logits = self.backbone.head(taps["features"])
        class_loss = F.cross_entropy(logits[:n], ys)
        lam = self.weight * self.lam.ramp_at(step)
        d = self.discriminator(reverse_gradient(self.domain_input(taps, logits), lam))
        dom_loss = domain_loss(d[:n], d[n:], self.domain_weights(logits, n))
        metrics: Tensors = {}
        loss = self.with_feature_penalty(class_loss + dom_loss, taps["features"], n, metrics)
        return (
            loss,
            metrics
            | {
                "loss/class": class_loss.detach(),
                "loss/domain": dom_loss.detach(),
                "acc/domain_batch": domain_accuracy(d[:n].detach(), d[n:].detach()),
                "acc/source_batch": (logits[:n].detach().argmax(1) == ys).float().mean(),
                "grl/lambda": lam.detach(),
            },
            carry,
        )
