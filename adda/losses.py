"""Loss terms that methods and validators share: the domain game's pieces, entropy, the ramp,
the batch norms of predictions and features, and virtual adversarial training.

Convention: a discriminator's logit is positive for "source" and negative for "target".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def domain_loss(
    source_logits: torch.Tensor, target_logits: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy of the domain label (source 1, target 0), averaged over both batches;
    ``weights`` (one per image, source first) scales each image's term (CDAN+E)."""
    logits = torch.cat([source_logits, target_logits])
    labels = torch.cat([torch.ones_like(source_logits), torch.zeros_like(target_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weights)


def domain_accuracy(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """How often the discriminator tells which domain an image came from."""
    correct = torch.cat([source_logits > 0, target_logits <= 0])
    return correct.float().mean()


def confusion_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy between the predicted domain distribution and (1/2, 1/2): smallest when
    the discriminator cannot tell the domains apart, and bounded below (Tzeng et al. 2015)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of ``probs``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


def batch_nuclear_norm(probs: torch.Tensor) -> torch.Tensor:
    """``||P||_* / N`` of a batch of class probabilities (N, K) (Cui et al. 2020): large when the
    predictions are confident and spread over many classes."""
    return torch.linalg.matrix_norm(probs.float(), ord="nuc") / len(probs)


def batch_spectral_penalty(features: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Sum of the squared ``k`` largest singular values of a batch's feature matrix (N, D) (Chen
    et al. 2019): large when a few directions dominate the features, as adversarial alignment
    makes them."""
    return torch.linalg.svdvals(features.flatten(1).float())[:k].pow(2).sum()


def certainty_weights(probs: torch.Tensor) -> torch.Tensor:
    """``1 + exp(-H(p))`` per row, normalised to mean 1 over the batch: confident predictions
    count more (CDAN+E, Long et al. 2018; MCC, Jin et al. 2020).  A weight, not a gradient path."""
    w = 1 + torch.exp(-entropy(probs).detach())
    return w / w.mean()


class _ReverseGrad(torch.autograd.Function):
    generate_vmap_rule = True  # stacked runs (adda.stacking) call it under torch.func.vmap

    @staticmethod
    def forward(x: torch.Tensor, scale: float) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs: tuple[torch.Tensor, float], output: torch.Tensor) -> None:
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; gradient times ``-scale`` backward (Ganin & Lempitsky 2015): one update
    lets the discriminator descend the domain loss while the encoder ascends it."""
    return _ReverseGrad.apply(x, scale)


def dann_lambda(progress: float | torch.Tensor, gamma: float = 10.0) -> float | torch.Tensor:
    """DANN's ramp ``2 / (1 + exp(-gamma p)) - 1`` over training progress ``p``: 0 at the start,
    0.9 by ``p = 0.3`` (Ganin & Lempitsky 2015, Section 5.2.2).  A tensor ``p`` stays on its
    device: a CUDA graph's step reads its progress there (:mod:`adda.graphs`)."""
    exp = torch.exp if torch.is_tensor(progress) else math.exp
    return 2.0 / (1.0 + exp(-gamma * progress)) - 1.0


class AdversarialWeight:
    """The adversarial term's weight at a step: ``weight``, times DANN's ramp when ``ramp``.

    The ramp keeps the domain game from moving a random encoder before the classifier has
    learned anything, the moment at which an unbounded or strong adversary can collapse it.
    """

    def __init__(self, weight: float, ramp: bool, gamma: float, steps: int) -> None:
        self.weight, self.ramp, self.gamma, self.steps = weight, ramp, gamma, steps

    def __call__(self, step: int | torch.Tensor) -> float | torch.Tensor:
        return self.weight * self.ramp_at(step)

    def ramp_at(self, step: int | torch.Tensor) -> float | torch.Tensor:
        """The ramp's factor alone (1 without one)."""
        return dann_lambda(step / self.steps, self.gamma) if self.ramp else 1.0


Model = Callable[[torch.Tensor], torch.Tensor]


def unit(x: torch.Tensor) -> torch.Tensor:
    """Each sample scaled to L2 norm 1."""
    return F.normalize(x.flatten(1), dim=1).view_as(x)


def prediction_kl(clean_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean ``KL(softmax(clean) || softmax(logits))``; the clean prediction is a fixed target."""
    clean = clean_logits.detach().log_softmax(1)
    return (clean.exp() * (clean - logits.log_softmax(1))).sum(1).mean()


def vat_perturbation(model: Model, x: torch.Tensor, clean_logits: torch.Tensor, radius: float, xi: float):
    """The direction that most changes the prediction (one power iteration), of norm ``radius``."""
    d = (xi * unit(torch.randn_like(x))).requires_grad_(True)
    (grad,) = torch.autograd.grad(prediction_kl(clean_logits, model(x + d)), d)
    return radius * unit(grad)


def vat_loss(model: Model, x: torch.Tensor, clean_logits: torch.Tensor, radius: float, xi: float):
    return prediction_kl(clean_logits, model(x + vat_perturbation(model, x, clean_logits, radius, xi)))
