"""Accuracy on the fixed evaluation sets, and the discriminator's accuracy on the test sets."""

from __future__ import annotations

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


@torch.inference_mode()
def evaluate(
    method: Method, evals: dict[str, EvalSet], batch_size: int | str = "auto", precision: str = "fp32"
) -> dict[str, float]:
    """``<set>_acc`` for every set, plus ``domain_acc`` (source vs target test) when there is a
    discriminator.  A set named ``source_*`` goes through the source encoder, ``target_*`` the
    target one (they differ only for methods with separate encoders)."""
    was_training = method.training
    batch_size = eval_batch_size(batch_size, next(method.parameters()).device)
    method.eval()
    out: dict[str, float] = {}
    dom_correct, dom_total = 0, 0  # summed on the device; read once at the end
    disc = method.discriminator
    for name, data in evals.items():
        domain = name.split("_")[0]
        correct = torch.zeros((), device=data.labels.device)
        for x, y in data.batches(batch_size):
            with autocast(x.device, precision):
                taps = method.encode(x, domain)
                logits = method.backbone.head(taps["features"])
                says_source = (
                    disc(taps[disc.tap]) > 0 if disc is not None and name.endswith("_test") else None
                )
            correct += (logits.argmax(1) == y).sum()
            if says_source is not None:
                dom_correct = dom_correct + (says_source if domain == "source" else ~says_source).sum()
                dom_total += len(x)
        out[f"{name}_acc"] = correct.item() / len(data.labels)
    if dom_total:
        out["domain_acc"] = float(dom_correct) / dom_total
    method.train(was_training)
    return out
