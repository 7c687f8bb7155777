"""MDD: margin disparity discrepancy (Zhang et al. 2019, "Bridging Theory and Algorithm for
Domain Adaptation"), with an adversarial classifier head instead of a discriminator.

The main head ``f`` labels each sample ``h_f(x) = argmax f(x)``; an auxiliary head ``f'`` of the
same shape is trained to agree with those labels on the source and to disagree on the target,
and the encoder ``psi`` (through gradient reversal) to make that impossible.  With ``sigma`` the
softmax, the discrepancy the auxiliary head maximises is

    D = gamma * E_s log sigma_{h_f(x_s)}(f'(psi(x_s)))  +  E_t log(1 - sigma_{h_f(x_t)}(f'(psi(x_t))))

(their Eq. 29; ``gamma`` = ``margin``: a larger one asks for a larger margin), and

    min_{psi, f}  CE(f(psi(x_s)), y_s) + lambda * D,      max_{f'}  D

one joint update, ``f'`` reading ``R_lambda(psi(x))`` (DANN's reversal with its ramped weight).
``margin`` 4 is the paper's (Office-31).  ``D``'s source term is unbounded below: an encoder can
keep lowering it by scaling its features, so at a large ``lambda`` the classifier loses the source;
the reference implementations reverse at most 0.1 and read a BatchNorm bottleneck.  On the seed
network the label-free rule chose ``weight`` 0.03 without a bottleneck (docs/RESULTS.md, section 7).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from adda.checks import positive
from adda.losses import reverse_gradient
from adda.methods.base import Batch, Method, fresh_copy
from adda.registry import METHODS


def disparity(
    source_adv: torch.Tensor,
    target_adv: torch.Tensor,
    source_labels: torch.Tensor,
    target_labels: torch.Tensor,
    margin: float,
) -> torch.Tensor:
    """The margin disparity discrepancy ``D`` of the auxiliary head's logits, given the main head's labels."""
    agree = -F.cross_entropy(source_adv, source_labels)  # mean log sigma_{h}(f'(x_s))
    p_target = target_adv.softmax(1).gather(1, target_labels[:, None]).squeeze(1)
    disagree = torch.log((1 - p_target).clamp_min(1e-6)).mean()
    return margin * agree + disagree


@METHODS.register("mdd")
class MarginDisparityDiscrepancy(Method):
    uses_discriminator = False

    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        margin: float = 4.0,
        weight: float = 1.0,
        ramp: bool = True,
        ramp_gamma: float = 10.0,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.margin = positive("margin", margin)
        self.lam = self.adversarial_weight(weight, ramp, ramp_gamma)
        self.adversary = fresh_copy(backbone.head)
        self.optimizers["model"] = self.optimizer(self.backbone, self.adversary)
        self.start_schedule()

    def compilable(self) -> list[nn.Module]:
        return [*super().compilable(), self.adversary]

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        features = self.encode_both(xs, xt)["features"]
        logits = self.backbone.head(features)
        class_loss = F.cross_entropy(logits[:n], ys)
        labels = logits.detach().argmax(1)
        adv = self.adversary(reverse_gradient(features, self.lam(step)))
        discrepancy = disparity(adv[:n], adv[n:], labels[:n], labels[n:], self.margin)
        # f' descends -D (ascends D); the reversal makes psi descend D.
        self.step(self.optimizers["model"], class_loss - discrepancy)
        return {
            "loss/class": class_loss.detach(),
            "mdd/discrepancy": discrepancy.detach(),
            "acc/source_batch": (logits[:n].detach().argmax(1) == ys).float().mean(),
        }
