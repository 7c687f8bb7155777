"""MixVal (Hu et al. 2023, "Mixed Samples as Probes for Unsupervised Model Selection in Domain
Adaptation"): probe the model with target images mixed in input space.

Each unlabelled target image ``x_i`` is paired with another ``x_j`` (a fixed random pairing) and
the model sees ``x_mix = lam x_i + (1 - lam) x_j`` with ``lam`` just over 1/2, so the mix belongs
with ``x_i``: its expected label is ``x_i``'s pseudo-label.  Pairs of one pseudo-class probe
whether a class's region is solid between its samples (intra-cluster); pairs of two probe
whether the boundary between them lies where the predictions put it (inter-cluster).  The score
is the mean of the two groups' agreement rates.  A model whose confident predictions are not
accurate tends to put boundaries through dense target regions, which the inter-cluster probes
find and entropy-based scores cannot see.
"""

from __future__ import annotations

import torch

from adda.checks import check
from adda.errors import ConfigError
from adda.registry import VALIDATORS
from adda.validators import Outputs, Validator


@VALIDATORS.register("mixval")
class MixVal(Validator):
    def __init__(self, lam: float = 0.55, seed: int = 0) -> None:
        self.lam = check(
            "lam", lam, lambda v: isinstance(v, (int, float)) and 0.5 < v < 1, "a number in (0.5, 1)"
        )
        self.seed = seed

    def __call__(self, out: Outputs) -> float:
        if out.mix_probe is None:
            raise ConfigError(
                "validator mixval needs the model (Outputs.mix_probe); score it during training or "
                "with adda-rescore"
            )
        pseudo = out.target_logits.argmax(1)
        n = len(pseudo)
        partner = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).to(pseudo.device)
        mine = torch.arange(n, device=pseudo.device)
        agree = (out.mix_probe(mine, partner, self.lam).argmax(1) == pseudo).float()
        same = pseudo == pseudo[partner]
        groups = [agree[mask].mean() for mask in (same, ~same) if mask.any()]
        return torch.stack(groups).mean().item()
