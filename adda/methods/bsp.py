"""BSP: batch spectral penalisation (Chen et al. 2019, "Transferability vs. Discriminability:
Batch Spectral Penalization for Adversarial Domain Adaptation"), an add-on to an adversarial method.

Adversarial alignment makes a few directions of the feature space dominate (the largest
singular values of a batch's feature matrix grow), which aligns the domains but leaves the
other directions, where the classes differ, weak.  BSP adds the base method's encoder loss a
penalty on the ``k`` largest singular values of each domain's batch features ``F_s``, ``F_t``:

    L_base  +  weight * sum_{i <= k} ( sigma_i(F_s)^2 + sigma_i(F_t)^2 )            (their Eq. 9)

``base`` is ``grl`` (DANN+BSP) or ``cdan`` (CDAN+BSP), with its own defaults or a config node;
weight 1e-4 and k 1 are the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from adda.checks import non_negative, positive_int
from adda.errors import ConfigError
from adda.losses import batch_spectral_penalty
from adda.methods.base import Batch, Method, base_config
from adda.registry import METHODS

BASES = ("grl", "cdan")  # the methods whose encoder loss takes a feature penalty


def bsp_base(cfg: Mapping[str, Any]) -> dict[str, Any]:
    base = base_config(cfg.get("base", "grl"), "bsp")
    if base["name"] not in BASES:
        raise ConfigError(f"method.base={base['name']!r}: bsp adds its penalty to {' or '.join(BASES)}")
    return base


@METHODS.register("bsp")
class BatchSpectralPenalisation(Method):
    def __init__(
        self,
        backbone,
        discriminator,
        optim,
        steps,
        base: str | Mapping[str, Any] = "grl",
        weight: float = 1e-4,
        k: int = 1,
    ) -> None:
        inner = METHODS.build(
            bsp_base({"base": base}),
            at="base",
            backbone=backbone,
            discriminator=discriminator,
            optim=optim,
            steps=steps,
        )
        super().__init__(backbone, discriminator, optim, steps)
        self.base, self.weight, self.k = inner, non_negative("weight", weight), positive_int("k", k)
        inner.feature_penalty = self.penalty
        self.optimizers = inner.optimizers  # the base's, stepped (and scheduled) by the base

    @classmethod
    def needs_discriminator(cls, cfg):
        base = bsp_base(cfg)
        return METHODS.get(base["name"]).needs_discriminator(base)

    @classmethod
    def discriminator_shape(cls, tap_shape, num_classes, cfg):
        base = bsp_base(cfg)
        return METHODS.get(base["name"]).discriminator_shape(tap_shape, num_classes, base)

    def penalty(self, source_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        return self.weight * (
            batch_spectral_penalty(source_features, self.k) + batch_spectral_penalty(target_features, self.k)
        )

    def domain_input(self, taps: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        return self.base.domain_input(taps, logits)

    def compilable(self) -> list[torch.nn.Module]:
        return self.base.compilable()

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        return self.base.train_step(source, target, step)
