"""Label-free validators: how good a model looks without a single target label.

At each evaluation the model's logits and features are collected on the labelled *source*
validation set and on an unlabelled sample of target *training* images; a validator turns them
into one score, **higher is better**.  ``trainer.select=<name>`` keeps the checkpoint its
validator scores highest.  Which validator to trust varies with the task: ``adda-report`` ranks
them by their correlation with target accuracy across a sweep (an after-the-fact analysis that
does read target labels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from adda.checks import positive
from adda.data.domain import EvalSet
from adda.evaluate import Predictions, evaluate
from adda.losses import entropy
from adda.methods import Method
from adda.registry import VALIDATORS


@dataclass
class Outputs:
    """What one evaluation hands every validator; target labels are not part of it."""

    source_logits: torch.Tensor  # (Ns, K), source validation set
    source_features: torch.Tensor  # (Ns, D)
    source_labels: torch.Tensor  # (Ns,)
    target_logits: torch.Tensor  # (Nt, K), unlabelled target training images
    target_features: torch.Tensor  # (Nt, D)
    # (i, j, lam) -> the model's logits on lam * x_i + (1 - lam) * x_j of those target images:
    # for validators that probe the model between target samples (mixval); None where no model is at hand.
    mix_probe: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] | None = None

    @classmethod
    def from_predictions(
        cls,
        preds: dict[str, Predictions],
        mix_probe: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] | None = None,
    ) -> Outputs:
        """The source validation set's and the unlabelled target sample's predictions."""
        source, target = preds["source_val"], preds["target_unlabelled"]
        return cls(source.logits, source.features, source.labels, target.logits, target.features, mix_probe)


class Validator:
    def __call__(self, out: Outputs) -> float:
        raise NotImplementedError


@VALIDATORS.register("source_val_acc")
class SourceValAccuracy(Validator):
    """Accuracy on held-out *source* images: blind to the shift, but never fooled by collapse."""

    def __call__(self, out: Outputs) -> float:
        return (out.source_logits.argmax(1) == out.source_labels).float().mean().item()


@VALIDATORS.register("entropy")
class NegativeEntropy(Validator):
    """``-E_t[H(p(y|x))]``: confident target predictions (Morerio et al. 2018)."""

    def __call__(self, out: Outputs) -> float:
        return -entropy(out.target_logits.softmax(1)).mean().item()


@VALIDATORS.register("im")
class InformationMaximization(Validator):
    """``H(E_t[p]) - E_t[H(p)]`` (Gomes et al. 2010; SHOT, Liang et al. 2020): confident *and*
    diverse, so a model that puts every target image in one class scores low."""

    def __call__(self, out: Outputs) -> float:
        p = out.target_logits.softmax(1)
        return (entropy(p.mean(0)) - entropy(p).mean()).item()


@VALIDATORS.register("snd")
class SoftNeighborhoodDensity(Validator):
    """SND (Saito et al. 2021): ``E_i[H(softmax_j(<p_i, p_j> / tau))]`` over L2-normalised
    target predictions, ``j != i``.  High when target points sit in dense neighbourhoods of
    similar predictions, i.e. the clusters are tight."""

    def __init__(self, temperature: float = 0.05) -> None:
        self.temperature = positive("temperature", temperature)

    def __call__(self, out: Outputs) -> float:
        p = F.normalize(out.target_logits.float().softmax(1), dim=1)
        sim = p @ p.T / self.temperature
        sim.fill_diagonal_(float("-inf"))
        return entropy(sim.softmax(1)).mean().item()


@VALIDATORS.register("dev")
class DeepEmbeddedValidation(Validator):
    """DEV (You et al. 2019): the source validation loss importance-weighted towards the target.

    A logistic-regression domain classifier on the features gives ``w(x) = n_s/n_t *
    p(t|x)/p(s|x)``; ``L = w * CE`` on source validation images, and the control variate
    ``eta = -Cov(L, w) / Var(w)`` lowers the estimate's variance:
    ``DEV = mean(L) + eta * mean(w) - eta``.  The score is ``-DEV`` (a risk, lower is better).
    """

    def __call__(self, out: Outputs) -> float:
        fs, ft = out.source_features.double().cpu().numpy(), out.target_features.double().cpu().numpy()
        x = StandardScaler().fit_transform(np.concatenate([fs, ft]))
        d = np.r_[np.zeros(len(fs)), np.ones(len(ft))]
        clf = LogisticRegression(max_iter=1000).fit(x, d)
        p_target = clf.predict_proba(x[: len(fs)])[:, 1].clip(1e-6, 1 - 1e-6)
        w = p_target / (1 - p_target) * len(fs) / len(ft)
        ce = F.cross_entropy(out.source_logits.float(), out.source_labels, reduction="none")
        weighted = w * ce.double().cpu().numpy()
        var = w.var(ddof=1)
        eta = -np.cov(weighted, w)[0, 1] / var if var > 0 else 0.0
        return -float(weighted.mean() + eta * w.mean() - eta)


def score_all(names: list[str], out: Outputs) -> dict[str, float]:
    """Every named validator's score (each built by registry name)."""
    return {name: VALIDATORS.build({"name": name})(out) for name in names}


def score_model(
    method: Method, evals: dict[str, EvalSet], names: list[str], batch_size: int | str, precision: str
) -> tuple[dict[str, float], dict[str, float], dict[str, Predictions]]:
    """The model as it stands on the fixed evaluation sets: accuracies, the named validators'
    scores, and the predictions; training and ``adda-rescore`` both score through here."""

    def mix_probe(i: torch.Tensor, j: torch.Tensor, lam: float) -> torch.Tensor:
        """The model's logits on ``lam x_i + (1 - lam) x_j`` of the unlabelled target sample."""
        mixed = evals["target_unlabelled"].mixed(i, j, lam)
        return evaluate(method, {"mixed": mixed}, batch_size, precision)[1]["mixed"].logits

    scores, preds = evaluate(method, evals, batch_size, precision)
    return scores, score_all(names, Outputs.from_predictions(preds, mix_probe)), preds
