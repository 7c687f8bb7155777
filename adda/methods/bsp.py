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
from adda.methods.base import Batch, OnBase
from adda.registry import METHODS

BASES = ("grl", "cdan")  # the methods whose encoder loss takes a feature penalty


@METHODS.register("bsp")
class BatchSpectralPenalisation(OnBase):
    owner = "bsp"

    @classmethod
    def base_of(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        base = super().base_of(cfg)
        if base["name"] not in BASES:
            raise ConfigError(f"method.base={base['name']!r}: bsp adds its penalty to {' or '.join(BASES)}")
        return base

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
            self.base_of({"base": base}),
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

    def penalty(self, source_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        return self.weight * (
            batch_spectral_penalty(source_features, self.k) + batch_spectral_penalty(target_features, self.k)
        )

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        return self.base.train_step(source, target, step)
