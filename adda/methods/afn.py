"""AFN: adaptive feature norm (Xu et al. 2019, "Larger Norm More Transferable: An Adaptive Feature
Norm Approach for Unsupervised Domain Adaptation"), with no discriminator.

Target features of small norm carry little information for the classifier; enlarging the
feature norms of both domains makes the target more transferable.  The stepwise form (SAFN)
moves each sample's norm up by ``step_size`` per update, from wherever it is:

    min_{E, C}  CE(C(E(x_s)), y_s)
                + weight * sum_{domain} mean_i ( ||h_i|| - (||h_i||_detached + step_size) )^2   (their Eq. 6)

``||h_i||_detached`` is the norm under the current weights without gradient (the paper's
"norm of the last step"), so the term's value is always ``step_size^2`` and only its gradient
matters.  weight 0.05 and step_size 1 are the paper's.  With ``radius`` R the hard form (HAFN,
their Eq. 4) draws every norm to a fixed R instead.  The stepwise form needs something to bound
the norms: the paper's network takes them behind a BatchNorm bottleneck, whose affine weights grow
only at the optimiser's pace.  On the seed network without one they grew without bound under
Adam, even with the paper's weight decay (8.8e7 by step 200), so ``method=afn`` brings
``backbone.bottleneck=64`` (docs/RESULTS.md, section 7).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adda.checks import non_negative, positive
from adda.methods.base import Batch, Method
from adda.registry import METHODS


def stepwise_norm_loss(features: torch.Tensor, step_size: float) -> torch.Tensor:
    """Mean squared distance of each feature norm from itself plus ``step_size`` (a push outwards)."""
    norms = features.flatten(1).norm(dim=1)
    return (norms - (norms.detach() + step_size)).pow(2).mean()


def hard_norm_loss(features: torch.Tensor, radius: float) -> torch.Tensor:
    """Mean squared distance of each feature norm from the fixed ``radius`` (HAFN)."""
    return (features.flatten(1).norm(dim=1) - radius).pow(2).mean()


@METHODS.register("afn")
class AdaptiveFeatureNorm(Method):
    uses_discriminator = False

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        weight: float = 0.05,
        step_size: float = 1.0,
        radius: float | None = None,
    ):
        super().__init__(backbone, discriminator, optim, steps)
        self.weight, self.step_size = non_negative("weight", weight), positive("step_size", step_size)
        self.radius = None if radius is None else positive("radius", radius)
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def norm_loss(self, features: torch.Tensor) -> torch.Tensor:
        if self.radius is None:
            return stepwise_norm_loss(features, self.step_size)
        return hard_norm_loss(features, self.radius)

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        features = self.encode_both(xs, xt)["features"]
        logits = self.backbone.head(features[:n])
        class_loss = F.cross_entropy(logits, ys)
        norm_loss = self.norm_loss(features[:n]) + self.norm_loss(features[n:])
        self.step(self.optimizers["model"], class_loss + self.weight * norm_loss)
        return {
            "loss/class": class_loss.detach(),
            "afn/source_norm": features[:n].detach().flatten(1).norm(dim=1).mean(),
            "afn/target_norm": features[n:].detach().flatten(1).norm(dim=1).mean(),
            "acc/source_batch": (logits.detach().argmax(1) == ys).float().mean(),
        }
