"""CDAN and CDAN+E: conditional domain adversarial networks (Long et al. 2018).

The discriminator reads the multilinear map ``h = f (x) g`` of the features ``f`` and the class
prediction ``g = softmax(C(f))`` (their Eq. 4), so it can align each class's features rather than
the marginal only:

    min_{E, C} max_D  CE(C(E(x_s)), y_s) - lambda_p * L_dom(D(f (x) g))            (Eq. 6)

through DANN's gradient reversal and lambda ramp.  ``entropy_weighting`` (CDAN+E, Eq. 8) weights
each image's domain loss by ``w = 1 + exp(-H(g))``, normalised within each domain, so that
confident predictions, whose ``g`` is a reliable condition, count more.  ``g`` is a condition, not
a path for gradients: it is detached in the map.
"""

from __future__ import annotations

import math

import torch

from adda.checks import flag
from adda.errors import ConfigError
from adda.losses import certainty_weights
from adda.methods.grl import GradientReversal
from adda.registry import METHODS


def multilinear_map(features: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``f (x) g`` per sample, flattened: (B, D) and (B, K) -> (B, D * K)."""
    return (features[:, :, None] * probs[:, None, :]).flatten(1)


@METHODS.register("cdan")
class ConditionalAdversarial(GradientReversal):
    """DANN's update (optimiser, lambda ramp) with the conditioned discriminator."""

    def __init__(self, backbone, discriminator, optim, steps, entropy_weighting: bool = True, **grl) -> None:
        super().__init__(backbone, discriminator, optim, steps, **grl)
        self.entropy_weighting = flag("entropy_weighting", entropy_weighting)

    @classmethod
    def discriminator_shape(cls, tap_shape, num_classes, cfg):
        if len(tap_shape) != 1:
            raise ConfigError(
                f"method cdan conditions the discriminator on a feature vector, but its tap has shape "
                f"{tap_shape}: use discriminator=mlp (tap features)"
            )
        return (math.prod(tap_shape) * num_classes,)

    def domain_input(self, taps: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        return multilinear_map(taps[self.discriminator.tap], logits.detach().softmax(1))

    def domain_weights(self, logits: torch.Tensor, n: int) -> torch.Tensor | None:
        if not self.entropy_weighting:
            return None
        probs = logits.detach().softmax(1)
        return torch.cat([certainty_weights(probs[:n]), certainty_weights(probs[n:])])
