"""Accuracy on the fixed evaluation sets, and the discriminator's accuracy on the test sets."""

from __future__ import annotations

import torch

from adda.data.domain import EvalSet
from adda.methods import Method


@torch.inference_mode()
def evaluate(method: Method, evals: dict[str, EvalSet], batch_size: int = 1000) -> dict[str, float]:
    """``<set>_acc`` for every set, plus ``domain_acc`` (source vs target test) when there is a
    discriminator.  A set named ``source_*`` goes through the source encoder, ``target_*`` the
    target one (they differ only for methods with separate encoders)."""
    was_training = method.training
    method.eval()
    out: dict[str, float] = {}
    dom_correct = dom_total = 0
    disc = method.discriminator
    for name, data in evals.items():
        domain = name.split("_")[0]
        correct = torch.zeros((), device=data.labels.device)
        for x, y in data.batches(batch_size):
            taps = method.encode(x, domain)
            correct += (method.backbone.head(taps["features"]).argmax(1) == y).sum()
            if disc is not None and name.endswith("_test"):
                says_source = disc(taps[disc.tap]) > 0
                dom_correct += int((says_source if domain == "source" else ~says_source).sum())
                dom_total += len(x)
        out[f"{name}_acc"] = correct.item() / len(data.labels)
    if dom_total:
        out["domain_acc"] = dom_correct / dom_total
    method.train(was_training)
    return out
