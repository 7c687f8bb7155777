"""MCD: maximum classifier discrepancy (Saito et al. 2018, "Maximum Classifier Discrepancy for
Unsupervised Domain Adaptation"), with two classifier heads instead of a discriminator.

Two heads ``C1`` (the backbone's, which is evaluated) and ``C2`` (a second, independently
initialised copy) disagree on target samples far from the source's support; the encoder ``E``
learns to produce target features on which they agree.  Each step plays the paper's three
steps (their Section 3.2), with ``d(p1, p2) = mean |p1 - p2|`` over the batch and classes:

    A:  min_{E, C1, C2}  CE(C1(E(x_s)), y_s) + CE(C2(E(x_s)), y_s)
    B:  min_{C1, C2}     CE(C1(E(x_s)), y_s) + CE(C2(E(x_s)), y_s) - weight * d(C1(E(x_t)), C2(E(x_t)))
    C:  min_E            d(C1(E(x_t)), C2(E(x_t)))                 (generator_steps times; 4 for digits)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from adda.checks import non_negative, positive_int
from adda.methods.base import Batch, Method, fresh_copy, weights_fixed
from adda.registry import METHODS


def discrepancy(logits1: torch.Tensor, logits2: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the two heads' class probabilities."""
    return (logits1.softmax(1) - logits2.softmax(1)).abs().mean()


@METHODS.register("mcd")
class MaximumClassifierDiscrepancy(Method):
    uses_discriminator = False

    def __init__(self, backbone, discriminator, optim, steps, weight: float = 1.0, generator_steps: int = 4):
        super().__init__(backbone, discriminator, optim, steps)
        self.weight = non_negative("weight", weight)
        self.generator_steps = positive_int("generator_steps", generator_steps)
        self.head2 = fresh_copy(backbone.head)
        self.optimizers["encoder"] = self.optimizer(self.backbone.encoder)
        self.optimizers["heads"] = self.optimizer(self.backbone.head, self.head2)
        self.start_schedule()

    def compilable(self) -> list[nn.Module]:
        return [*super().compilable(), self.head2]

    def source_loss(self, features: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.backbone.head(features)
        return F.cross_entropy(logits, ys) + F.cross_entropy(self.head2(features), ys), logits

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        encoder, heads = self.optimizers["encoder"], self.optimizers["heads"]
        # A: both heads and the encoder learn the source.
        class_loss, logits = self.source_loss(self.backbone.encoder(xs)["features"], ys)
        for optimizer in (encoder, heads):
            optimizer.zero_grad(set_to_none=True)
        class_loss.backward()
        encoder.step()
        heads.step()
        # B: the heads keep the source and pull apart on the target.
        with torch.no_grad():
            features = self.backbone.encoder(torch.cat([xs, xt]))["features"]
        head_loss, _ = self.source_loss(features[:n], ys)
        apart = discrepancy(self.backbone.head(features[n:]), self.head2(features[n:]))
        self.step(heads, head_loss - self.weight * apart)
        # C: the encoder makes them agree on the target again.
        head, head2 = weights_fixed(self.backbone.head), weights_fixed(self.head2)
        for _ in range(self.generator_steps):
            ft = self.backbone.encoder(xt)["features"]
            agree = discrepancy(head(ft), head2(ft))
            self.step(encoder, agree)
        return {
            "loss/class": class_loss.detach() / 2,
            "mcd/discrepancy_heads": apart.detach(),
            "mcd/discrepancy_encoder": agree.detach(),
            "acc/source_batch": (logits.detach().argmax(1) == ys).float().mean(),
        }
