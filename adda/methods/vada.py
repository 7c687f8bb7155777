"""VADA: virtual adversarial domain adaptation (Shu et al. 2018, "A DIRT-T Approach to
Unsupervised Domain Adaptation"), built on DANN's update.

    min_{E, C}  CE(C(E(x_s)), y_s)  +  lambda_d L_dom  +  lambda_s L_v(source)
                + lambda_t [ E_t H(p(y|x)) + L_v(target) ]                          (their Eq. 6)

The domain term goes through DANN's gradient reversal.  Conditional entropy on the target pushes
decision boundaries away from dense target regions (the cluster assumption); virtual adversarial
training (Miyato et al. 2018) keeps predictions locally Lipschitz, so low entropy cannot come from
boundaries that cut through a cluster:

    L_v(x) = KL( p(x) || p(x + r) ),   r = radius * grad / ||grad||,   grad = d/dd KL(p(x) || p(x + d))

with ``d`` a random direction of norm ``xi``.  lambda_t = 1e-2, lambda_s = 0 and radius 3.5 are
the paper's for MNIST -> MNIST-M; lambda_d is DANN's ramped weight (the paper's 1e-2 is too weak a
domain term for the seed network: see adda/conf/method/vada.yaml).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adda.checks import non_negative, positive
from adda.losses import domain_accuracy, domain_loss, entropy, reverse_gradient, vat_loss
from adda.methods.base import Batch
from adda.methods.grl import GradientReversal
from adda.registry import METHODS


@METHODS.register("vada")
class VirtualAdversarialDA(GradientReversal):
    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        source_vat: float = 0.0,
        target_weight: float = 1e-2,
        radius: float = 3.5,
        xi: float = 1e-3,
        **grl,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps, **grl)
        self.source_vat = non_negative("source_vat", source_vat)
        self.target_weight = non_negative("target_weight", target_weight)
        self.radius, self.xi = positive("radius", radius), positive("xi", xi)

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        (xs, ys), (xt, _) = source, target
        n = len(xs)
        taps = self.encode_both(xs, xt)
        logits = self.backbone.head(taps["features"])
        class_loss = F.cross_entropy(logits[:n], ys)
        d = self.discriminator(reverse_gradient(taps[self.discriminator.tap], self.lam(step)))
        dom_loss = domain_loss(d[:n], d[n:])
        target_entropy = entropy(logits[n:].softmax(1)).mean()
        target_vat = vat_loss(self.backbone, xt, logits[n:], self.radius, self.xi)
        loss = class_loss + dom_loss + self.target_weight * (target_entropy + target_vat)
        metrics = {}
        if self.source_vat:
            source_vat = vat_loss(self.backbone, xs, logits[:n], self.radius, self.xi)
            loss = loss + self.source_vat * source_vat
            metrics["loss/source_vat"] = source_vat.detach()
        self.step(self.optimizers["model"], loss)
        return metrics | {
            "loss/class": class_loss.detach(),
            "loss/domain": dom_loss.detach(),
            "loss/target_entropy": target_entropy.detach(),
            "loss/target_vat": target_vat.detach(),
            "acc/domain_batch": domain_accuracy(d[:n].detach(), d[n:].detach()),
            "acc/source_batch": (logits[:n].detach().argmax(1) == ys).float().mean(),
        }
