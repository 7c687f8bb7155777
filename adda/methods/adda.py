"""ADDA: adversarial discriminative domain adaptation (Tzeng et al. 2017).

Stage 1 (pre-training), the first ``pretrain_fraction`` of the steps:

    min_{M_s, C}  CE(C(M_s(x_s)), y_s)

Stage 2 (adaptation): the target encoder M_t starts as a copy of M_s; M_s and C are frozen.

    min_D    -log D(M_s(x_s)) - log(1 - D(M_t(x_t)))          (domain CE)
    min_M_t  -log D(M_t(x_t))                                 (GAN loss, inverted labels)

Source images go through M_s, target images through M_t, and both share the classifier C.  During
adaptation M_s runs in eval mode (frozen means its BatchNorm statistics too); M_t normalises with
statistics of target batches only.

With ``min_domain_acc`` > 0, M_t steps only while D tells the domains apart on more than that
fraction of the batch (the stabiliser pytorch-adapt's ADDA uses by default, at 0.6): M_t then
never chases a discriminator that has stopped discriminating.  Reading that accuracy costs one
host sync per step.

``optim`` (and its ``decay_at`` schedule, as fractions of stage 1) drives stage 1 only; stage 2
runs at a constant Adam(``adapt_lr``, ``adapt_betas``) as in the paper (which used 2e-4; 5e-4 scores
a higher label-free IM on the seed task), so a schedule written for joint training cannot shrink
the adaptation's rate tenfold.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from adda.checks import fraction, positive
from adda.losses import domain_accuracy, domain_loss
from adda.methods.base import Batch, Method, PhaseLoss, Tensors
from adda.registry import METHODS


@METHODS.register("adda")
class ADDA(Method):
    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        pretrain_fraction: float = 0.5,
        adapt_lr: float = 5e-4,
        adapt_betas: tuple[float, float] = (0.5, 0.999),
        min_domain_acc: float = 0.0,
    ) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.pretrain_steps = round(fraction("pretrain_fraction", pretrain_fraction) * steps)
        self.adaptation_start = self.pretrain_steps
        self.min_domain_acc = fraction("min_domain_acc", min_domain_acc)
        self.target_encoder = copy.deepcopy(backbone.encoder)
        # The stage: a buffer, so that checkpoints hold it, and its mirror on the host, so that
        # choosing an encoder never waits for the device.
        self.register_buffer("adapting", torch.tensor(False))
        self.in_stage2 = False
        self.register_load_state_dict_post_hook(lambda module, _: module._read_stage())
        self.optimizers["source"] = self.optimizer(self.backbone)
        adapt = {"lr": positive("adapt_lr", adapt_lr), "betas": tuple(adapt_betas)}
        self.optimizers["discriminator"] = self.optimizer(self.discriminator, **adapt)
        self.optimizers["target"] = self.optimizer(self.target_encoder, **adapt)
        self.start_schedule("source", steps=self.pretrain_steps)

    def encode(self, x: torch.Tensor, domain: str = "source") -> dict[str, torch.Tensor]:
        encoder = self.target_encoder if domain == "target" and self.in_stage2 else self.backbone.encoder
        return encoder(x)

    def compilable(self) -> list[torch.nn.Module]:
        return [*super().compilable(), self.target_encoder]

    def start_adaptation(self) -> None:
        """M_t <- M_s; freeze M_s and C; from now on target images use M_t."""
        self.target_encoder.load_state_dict(self.backbone.encoder.state_dict())
        self.backbone.requires_grad_(False)
        self.adapting.fill_(True)
        self.in_stage2 = True
        self.train(self.training)

    def _read_stage(self) -> None:
        """After a checkpoint is loaded: the one read of the stage from the device."""
        self.in_stage2 = bool(self.adapting)

    def train(self, mode: bool = True) -> ADDA:
        """While adapting, the frozen M_s and C stay in eval mode: their BatchNorm statistics and
        dropout stay as pre-training left them; M_t, a copy, keeps BatchNorm statistics of its own."""
        super().train(mode)
        if self.in_stage2:
            self.backbone.eval()
        return self

    def cannot_stack(self) -> str | None:
        if self.min_domain_acc > 0:  # a run that skips a step would leave the shared Adam step count
            return "adda with min_domain_acc > 0 decides on the host, per run, whether M_t steps"
        return None

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        if step < self.pretrain_steps:
            return [("source", self.pretrain_loss)]
        if step == self.pretrain_steps:  # decided on the host: no device read per step
            self.start_adaptation()
        if self.backbone.training:  # a run resumed in stage 2: M_s is frozen, so in eval mode
            self.backbone.eval()
        return [("discriminator", self.discriminator_loss), ("target", self.target_loss)]

    def pretrain_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        xs, ys = source
        logits = self.backbone(xs)
        loss = F.cross_entropy(logits, ys)
        metrics = {
            "loss/class": loss.detach(),
            "acc/source_batch": (logits.detach().argmax(1) == ys).float().mean(),
        }
        return loss, metrics, carry

    def discriminator_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        tap = self.discriminator.tap
        with torch.no_grad():
            source_feat = self.backbone.encoder(source[0])[tap]
        target_feat = self.target_encoder(target[0])[tap]
        ds, dt = self.discriminator(source_feat), self.discriminator(target_feat.detach())
        dom_loss = domain_loss(ds, dt)
        metrics = {
            "loss/domain": dom_loss.detach(),
            "acc/domain_batch": domain_accuracy(ds.detach(), dt.detach()),
        }
        return dom_loss, metrics, {"target_feat": target_feat}

    def target_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        """M_t fools the discriminator just updated; ``min_domain_acc`` may skip its step."""
        fooled = self.discriminator(carry["target_feat"])
        gan_loss = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        return gan_loss, {"loss/target_gan": gan_loss.detach()}, carry

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        """The phases, except that with ``min_domain_acc`` M_t steps only while D discriminates."""
        if step < self.pretrain_steps or self.min_domain_acc <= 0:
            return super().update(source, target, step)
        (_, loss_d), (_, loss_t) = self.phases(step)
        dom_loss, metrics, carry = loss_d(source, target, step, {})
        self.step(self.optimizers["discriminator"], dom_loss)
        gan_loss, gan_metrics, _ = loss_t(source, target, step, carry)
        if metrics["acc/domain_batch"].item() > self.min_domain_acc:
            self.step(self.optimizers["target"], gan_loss)
        return metrics | gan_metrics
