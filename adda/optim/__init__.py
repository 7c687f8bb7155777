"""Optimisers by name, per-part learning rates, and the learning-rate schedules every method shares.

torch's Adam, AdamW and SGD are registered here; another optimiser is one module in this package
(``@OPTIMIZERS.register("name")`` on a ``torch.optim.Optimizer`` subclass) plus
``adda/conf/optim/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from adda.checks import ArgumentError, check, is_number, non_negative, one_of, positive
from adda.registry import OPTIMIZERS

OPTIMIZERS.register("adam")(torch.optim.Adam)
OPTIMIZERS.register("adamw")(torch.optim.AdamW)
OPTIMIZERS.register("sgd")(torch.optim.SGD)

SCHEDULE_KEYS = ("schedule", "decay_at", "decay_gamma")
NOT_OPTIMIZER_KEYS = (*SCHEDULE_KEYS, "backbone_lr_mult")
SCHEDULES = ("step", "dann")
FUSABLE = {"adam", "adamw", "sgd"}


def check_optimizer_arguments(kwargs: Mapping[str, Any]) -> None:
    """The keys every optimiser config may set (torch's own errors name no config key)."""
    for key, test in (
        ("lr", positive),
        ("weight_decay", non_negative),
        ("momentum", non_negative),
        ("backbone_lr_mult", non_negative),
    ):
        if key in kwargs:
            test(key, kwargs[key])
    if "betas" in kwargs:
        check(
            "betas",
            list(betas)
            if isinstance(betas := kwargs["betas"], Sequence) and not isinstance(betas, str)
            else betas,
            lambda v: isinstance(v, list) and len(v) == 2 and all(is_number(b) and 0 <= b < 1 for b in v),
            "two numbers in [0, 1)",
        )


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    cfg: Mapping[str, Any],
    trunk: Iterable[torch.nn.Parameter] = (),
    **override: Any,
) -> torch.optim.Optimizer:
    """The optimiser named in ``cfg`` (schedule keys left out); ``override`` wins over ``cfg``.

    ``trunk``: parameters (among ``params``) of a pretrained encoder, which learn at
    ``lr * optim.backbone_lr_mult`` (the 10x rule of the DANN/CDAN ResNet recipes: 0.1).
    """
    kwargs = {k: v for k, v in cfg.items() if k not in NOT_OPTIMIZER_KEYS}
    try:
        check_optimizer_arguments(cfg)
    except ArgumentError as err:
        raise err.at("optim", root=True) from None
    kwargs.update(override)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    params, mult = list(params), cfg.get("backbone_lr_mult", 1.0)
    if kwargs["name"] in FUSABLE and params and all(p.is_cuda for p in params):
        kwargs.setdefault("fused", True)  # one kernel for the whole update instead of one per tensor
    slow = {id(p) for p in trunk}
    if not slow or mult == 1:
        return OPTIMIZERS.build(kwargs, params=params)
    groups = [
        {"params": [p for p in params if id(p) in slow], "lr": kwargs.get("lr", 1e-3) * mult},
        {"params": [p for p in params if id(p) not in slow]},
    ]
    return OPTIMIZERS.build(kwargs, params=[g for g in groups if g["params"]])


def lr_factor(step: int, total: int, decay_at: Sequence[float], gamma: float) -> float:
    """``gamma`` to the number of milestones (fractions of ``total``) already passed."""
    passed = sum(step >= round(f * total) for f in decay_at)
    return gamma**passed


def dann_factor(step: int, total: int, alpha: float = 10.0, beta: float = 0.75) -> float:
    """``1 / (1 + alpha p)^beta`` at progress ``p = step / total`` (Ganin et al. 2016, Section 5.2.2)."""
    return (1 + alpha * step / total) ** -beta


class LRSchedule:
    """Sets each group's lr to its initial lr times the schedule's factor at a step: ``step``
    (:func:`lr_factor` at ``decay_at``) or ``dann`` (:func:`dann_factor`).  Stateless, so it resumes."""

    def __init__(
        self,
        optimizers: Iterable[torch.optim.Optimizer],
        total: int,
        schedule: str = "step",
        decay_at: Sequence[float] = (),
        decay_gamma: float = 0.1,
    ) -> None:
        try:
            one_of("schedule", schedule, SCHEDULES)
            check(
                "decay_at",
                list(decay_at)
                if isinstance(decay_at, Sequence) and not isinstance(decay_at, str)
                else decay_at,
                lambda v: isinstance(v, list) and all(is_number(f) and 0 <= f <= 1 for f in v),
                "a list of fractions in [0, 1]",
            )
            positive("decay_gamma", decay_gamma)
        except ArgumentError as err:
            raise err.at("optim", root=True) from None
        self.optimizers = list(optimizers)
        self.total, self.schedule, self.decay_at, self.gamma = total, schedule, tuple(decay_at), decay_gamma
        for opt in self.optimizers:
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

    def apply(self, step: int) -> float:
        if self.schedule == "dann":
            factor = dann_factor(step, self.total)
        else:
            factor = lr_factor(step, self.total, self.decay_at, self.gamma)
        for opt in self.optimizers:
            for group in opt.param_groups:
                if torch.is_tensor(group["lr"]):  # a CUDA graph reads it: changed in place, never replaced
                    group["lr"].fill_(group["initial_lr"] * factor)
                else:
                    group["lr"] = group["initial_lr"] * factor
        return factor
