"""Accuracy on the fixed evaluation sets, the discriminator's accuracy on the test sets, and the
predictions the label-free validators read."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from adda.data.domain import EvalSet
from adda.methods import Method
from adda.runtime import autocast


def eval_batch_size(setting: int | str, device: torch.device) -> int:
    """``auto``: 64 on CPU, where small batches stay in cache (about 2x faster than 1000 for the
    seed CNN on 2 cores), and 2048 on CUDA, where large batches fill the GPU."""
    if setting != "auto":
        return int(setting)
    return 2048 if device.type == "cuda" else 64


@dataclass
class Predictions:
    """One evaluation set through the model: class logits, features, and the discriminator's
    verdicts (True: "source") when it was asked for them."""

    logits: torch.Tensor
    features: torch.Tensor
    says_source: torch.Tensor | None
    labels: torch.Tensor | None  # the set's, None for the unlabelled target sample


@torch.inference_mode()
def predict(
    method: Method, data: EvalSet, batch_size: int, precision: str, discriminate: bool
) -> Predictions:
    """``data`` through the encoder used for its domain (they differ only for methods with
    separate encoders); the discriminator's tap is reduced to one verdict per image at once."""
    disc = method.discriminator if discriminate else None
    logits, features, verdicts = [], [], []
    for x in data.batches(batch_size):
        with autocast(x.device, precision):
            taps = method.encode(x, data.domain)
            out = method.backbone.head(taps["features"])
            logits.append(out.float())
            features.append(taps["features"].float())
            if disc is not None:
                verdicts.append(disc(method.domain_input(taps, out)) > 0)
    verdict = torch.cat(verdicts) if verdicts else None
    return Predictions(torch.cat(logits), torch.cat(features), verdict, data.labels)


def evaluate(
    method: Method, evals: dict[str, EvalSet], batch_size: int | str = "auto", precision: str = "fp32"
) -> tuple[dict[str, float], dict[str, Predictions]]:
    """``<set>_acc`` for every labelled set, plus ``domain_acc`` (source vs target test) when there
    is a discriminator; and every set's :class:`Predictions`."""
    was_training = method.training
    batch_size = eval_batch_size(batch_size, next(method.parameters()).device)
    method.eval()
    scores: dict[str, float] = {}
    preds: dict[str, Predictions] = {}
    dom_correct, dom_total = 0, 0  # summed on the device; read once at the end
    for name, data in evals.items():
        test = data.role == "test" and method.discriminator is not None
        preds[name] = p = predict(method, data, batch_size, precision, discriminate=test)
        if data.labels is not None:
            scores[f"{name}_acc"] = (p.logits.argmax(1) == data.labels).float().mean().item()
        if p.says_source is not None:
            dom_correct = dom_correct + (p.says_source if data.domain == "source" else ~p.says_source).sum()
            dom_total += len(p.says_source)
    if dom_total:
        scores["domain_acc"] = float(dom_correct) / dom_total
    method.train(was_training)
    return scores, preds
