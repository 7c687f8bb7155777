"""Self-training: a stage of confidence-thresholded pseudo-labels after any method.

The first ``start_fraction`` of the steps run the method named by ``base`` (with its own defaults,
or a config node ``{name: ..., key: value}``).  Then a teacher labels the target batch and the
model learns from the labels the teacher is sure of (Lee 2013, "Pseudo-label"; the thresholded
form of Sohn et al. 2020):

    min  CE(C(E_s(x_s)), y_s) + weight * E_t[ 1(max_k q_k(x_t) >= tau) CE(C(E_t(x_t)), argmax_k q_k(x_t)) ]

``E_s`` and ``E_t`` are the encoders the base method uses for each domain (one shared, or ADDA's
two, whose frozen source side then stays frozen).  Adaptation first aligns the domains so that
confident target predictions are mostly right; self-training then sharpens the target clusters.

``q`` is a teacher's prediction: a copy of the model taken at the switch and moved towards the
student after each step, ``teacher <- m * teacher + (1 - m) * student`` (``teacher_momentum`` m;
the mean teacher of Tarvainen & Valpola 2017, used for adaptation by French et al. 2018).  m = 1
keeps the switch-time teacher, whose labels cannot drift; m = 0 is the student labelling itself
(plain pseudo-labelling), whose mistakes feed its own next labels.  The self-training optimiser
follows ``optim``'s schedule over all steps: a fresh optimiser at the undecayed rate made the
model relabel the whole target as a few classes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from adda.checks import fraction, non_negative
from adda.methods.base import Batch, Method, OnBase, PhaseLoss, Tensors
from adda.optim import build_optimizer
from adda.registry import METHODS


def trained_weights(method: Method) -> list[torch.nn.Parameter]:
    """What self-training updates: every weight of ``method`` but its discriminator's."""
    return [p for n, p in method.named_parameters() if not n.startswith("discriminator.")]


@METHODS.register("self_training")
class SelfTraining(OnBase):
    owner = "self_training"

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        base: str | Mapping[str, Any] = "grl",
        start_fraction: float = 0.5,
        threshold: float = 0.9,
        weight: float = 1.0,
        teacher_momentum: float = 1.0,
    ) -> None:
        base_cfg = self.base_of({"base": base})
        self.start = round(fraction("start_fraction", start_fraction) * steps)
        first = METHODS.build(
            base_cfg, at="base", backbone=backbone, discriminator=discriminator, optim=optim, steps=self.start
        )
        self.uses_discriminator = first.uses_discriminator
        self.uses_target_labels = first.uses_target_labels  # an oracle base stays marked as one
        super().__init__(backbone, discriminator, optim, steps)
        self.base, self.threshold = first, fraction("threshold", threshold)
        self.adaptation_start = first.adaptation_start
        self.weight, self.momentum = (
            non_negative("weight", weight),
            fraction("teacher_momentum", teacher_momentum),
        )
        self.teacher = METHODS.build(
            base_cfg,
            backbone=copy.deepcopy(backbone),
            discriminator=copy.deepcopy(discriminator),
            optim=optim,
            steps=self.start,
        ).requires_grad_(False)
        self.optimizers.update({f"base.{k}": opt for k, opt in first.optimizers.items()})
        self.student, self.teacher_weights = trained_weights(first), trained_weights(self.teacher)
        trunk = [p for n, p in first.named_parameters() if ".trunk." in n]
        self.optimizers["self_training"] = build_optimizer(self.student, self.optim_cfg, trunk=trunk)
        self.start_schedule("self_training")

    def learning_rate(self) -> float:
        return float(self.optimizers["self_training"].param_groups[0]["lr"])

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        if step < self.start:
            if self.base.schedule is not None:
                self.base.schedule.apply(step)
            return [(f"base.{name}", loss) for name, loss in self.base.phases(step)]
        if step == self.start:  # decided on the host: no device read per step
            self.teacher.load_state_dict(self.base.state_dict())
        return [("self_training", self.pseudo_label_loss)]

    def pseudo_label_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        """Source CE plus CE on the pseudo-labels the teacher is sure of (a mask, not a branch)."""
        (xs, ys), (xt, _) = source, target
        with torch.no_grad():
            confidence, pseudo = self.teacher.classify(xt, "target").softmax(1).max(1)
        sure = (confidence >= self.threshold).float()
        source_logits = self.base.classify(xs, "source")
        target_logits = self.base.classify(xt, "target")
        class_loss = F.cross_entropy(source_logits, ys)
        pseudo_loss = (F.cross_entropy(target_logits, pseudo, reduction="none") * sure).mean()
        metrics = {
            "loss/class": class_loss.detach(),
            "loss/pseudo_label": pseudo_loss.detach(),
            "self_training/confident_fraction": sure.mean(),
            "acc/source_batch": (source_logits.detach().argmax(1) == ys).float().mean(),
        }
        return class_loss + self.weight * pseudo_loss, metrics, carry

    def after_update(self, step: int) -> None:
        if step >= self.start:
            self.follow_student()

    @torch.no_grad()
    def follow_student(self) -> None:
        """teacher <- m * teacher + (1 - m) * student, on the networks the student trains."""
        if self.momentum < 1:
            for t, s in zip(self.teacher_weights, self.student, strict=True):
                t.lerp_(s, 1 - self.momentum)
