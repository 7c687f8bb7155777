"""DIRT-T: decision-boundary iterative refinement training with a teacher (Shu et al. 2018, "A
DIRT-T Approach to Unsupervised Domain Adaptation"): VADA, then a refinement on the target alone.

The first ``start_fraction`` of the steps train VADA (adda/methods/vada.py, with its settings).
Then the source is dropped: the cluster assumption alone moves the decision boundaries further
from the target's dense regions, while a KL term to a teacher (the model at the last refresh)
keeps each refinement step small, an approximation of the paper's natural-gradient steps:

    min_theta  lambda_t [ E_t H(p_theta(y|x)) + L_v(target) ]
               + beta E_t KL( p_teacher(y|x) || p_theta(y|x) )                       (their Eq. 8)

The teacher is the model at the switch, refreshed to the current one every ``refresh_every``
steps (0: never).  beta = lambda_t = 1e-2 are the paper's for MNIST -> MNIST-M, where it reports
98.7% target accuracy.
"""

from __future__ import annotations

import copy

import torch

from adda.checks import fraction, non_negative, non_negative_int
from adda.losses import entropy, prediction_kl, vat_loss
from adda.methods.base import Batch
from adda.methods.vada import VirtualAdversarialDA
from adda.registry import METHODS


@METHODS.register("dirt_t")
class DirtT(VirtualAdversarialDA):
    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        start_fraction: float = 0.5,
        teacher_weight: float = 1e-2,
        refresh_every: int = 0,
        **vada,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps, **vada)
        self.start = round(fraction("start_fraction", start_fraction) * steps)
        self.teacher_weight = non_negative("teacher_weight", teacher_weight)
        self.refresh_every = non_negative_int("refresh_every", refresh_every)
        self.teacher = copy.deepcopy(backbone).requires_grad_(False)

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        if step < self.start:
            return super().update(source, target, step)
        since = step - self.start
        if since == 0 or (self.refresh_every and since % self.refresh_every == 0):
            self.teacher.load_state_dict(self.backbone.state_dict())
        xt = target[0]
        logits = self.backbone(xt)
        with torch.no_grad():
            teacher_logits = self.teacher(xt)
        target_entropy = entropy(logits.softmax(1)).mean()
        target_vat = vat_loss(self.backbone, xt, logits, self.radius, self.xi)
        to_teacher = prediction_kl(teacher_logits, logits)
        loss = self.target_weight * (target_entropy + target_vat) + self.teacher_weight * to_teacher
        self.step(self.optimizers["model"], loss)
        return {
            "loss/target_entropy": target_entropy.detach(),
            "loss/target_vat": target_vat.detach(),
            "dirt_t/kl_to_teacher": to_teacher.detach(),
        }
