"""The interface every loss variant implements; the loss terms they share are in :mod:`adda.losses`.

Convention: a discriminator's logit is positive for "source" and negative for "target".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from adda.checks import flag, non_negative, positive
from adda.errors import ConfigError
from adda.losses import AdversarialWeight, domain_accuracy, domain_loss
from adda.models import Backbone, Discriminator
from adda.optim import SCHEDULE_KEYS, LRSchedule, build_optimizer
from adda.registry import METHODS

Batch = tuple[torch.Tensor, torch.Tensor]
Tensors = dict[str, torch.Tensor]
# One phase of an update: (source, target, step, carry) -> (loss, metrics, carry); ``carry`` hands
# tensors (with their graphs) from one phase to the next, such as features computed once.
PhaseLoss = Callable[[Batch, Batch, int, Tensors], tuple[torch.Tensor, Tensors, Tensors]]


def weights_fixed(module: nn.Module) -> Callable[..., Any]:
    """``module`` as a function whose weights take no gradient while its input does: the
    encoder's step needs the discriminator's input gradient, never its weight gradient.  (Detached
    weights rather than flags flipped on them: the same code then runs on stacked runs' weights.)"""
    weights = {name: p.detach() for name, p in module.named_parameters()}
    return lambda *args: functional_call(module, weights, args)


def base_config(base: str | Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``method.base`` of a method built on another (``owner``: self_training, bsp) as a config
    node; a name stands for that method with its defaults."""
    cfg = {"name": base} if isinstance(base, str) else dict(base)
    if cfg.get("name") in (None, owner):
        raise ConfigError(f"method.base={cfg.get('name')!r}: name the method {owner} builds on")
    return cfg


def fresh_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with its weights drawn anew (from the global generator, so seeded):
    a second head of the same shape (MCD's, MDD's)."""
    twin = copy.deepcopy(module)
    for layer in twin.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return twin


class Method(nn.Module):
    """One loss variant: owns its networks and optimisers; ``train_step`` consumes one batch.

    Subclasses build ``self.optimizers`` in ``__init__`` with :meth:`optimizer` and call
    :meth:`start_schedule`; the runner calls :meth:`train_step` ``steps`` times.
    """

    uses_target = True
    uses_discriminator = True
    uses_target_labels = False  # only an oracle may read them; results mark it
    # Scalar ``method.*`` keys the losses read as 0-d buffers (:meth:`per_run`), so runs that
    # differ in them still train stacked (hydra/launcher=stacked).
    stacked_knobs: tuple[str, ...] = ()
    adaptation_start = 0  # the step adaptation begins at (ADDA: after pre-training); analysed there

    def __init__(
        self, backbone: Backbone, discriminator: Discriminator | None, optim: Mapping[str, Any], steps: int
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.discriminator = discriminator if self.uses_discriminator else None
        self.optim_cfg = dict(optim)
        self.steps = steps
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedule: LRSchedule | None = None
        # An add-on's term on a joint batch's features, (source, target) -> loss, that a method
        # which takes one (grl, cdan) adds to its encoder's loss: BSP's spectral penalty.
        self.feature_penalty: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def optimizer(self, *modules: nn.Module, **override: Any) -> torch.optim.Optimizer:
        """One optimiser over ``modules``; a pretrained trunk among them (a submodule named
        ``trunk``) learns at ``optim.backbone_lr_mult`` times the rate of the rest."""
        params = [p for m in modules for p in m.parameters()]
        trunk = [
            p
            for m in modules
            for name, sub in m.named_modules()
            if name.endswith("trunk")
            for p in sub.parameters()
        ]
        return build_optimizer(params, self.optim_cfg, trunk=trunk, **override)

    def per_run(self, name: str, value: float) -> None:
        """``self.<name>``: a scalar as a 0-d buffer (left out of checkpoints: the config holds it),
        which stacked runs each read from their own row."""
        self.register_buffer(name, torch.tensor(float(value)), persistent=False)

    def adversarial_weight(self, weight: float, ramp: bool, ramp_gamma: float) -> AdversarialWeight:
        """The adversarial term's weight schedule over this run's steps, its arguments checked."""
        return AdversarialWeight(
            non_negative("weight", weight), flag("ramp", ramp), positive("ramp_gamma", ramp_gamma), self.steps
        )

    def start_schedule(self, *names: str, steps: int | None = None) -> None:
        """Decay the optimisers ``names`` (default: all) at ``optim.decay_at`` fractions of ``steps``."""
        sched = {k: self.optim_cfg[k] for k in SCHEDULE_KEYS if k in self.optim_cfg}
        optimizers = [self.optimizers[n] for n in names] if names else self.optimizers.values()
        self.schedule = LRSchedule(optimizers, self.steps if steps is None else steps, **sched)

    def encode(self, x: torch.Tensor, domain: str = "source") -> dict[str, torch.Tensor]:
        """Feature taps of ``x`` from the encoder used for ``domain`` (shared unless overridden)."""
        return self.backbone.encoder(x)

    def encode_both(self, xs: torch.Tensor, xt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Source and target batches through the shared encoder in one pass (rows: source first),
        so a BatchNorm in it sees both domains together, as DANN's network does."""
        return self.backbone.encoder(torch.cat([xs, xt]))

    def classify(self, x: torch.Tensor, domain: str = "source") -> torch.Tensor:
        return self.backbone.head(self.encode(x, domain)["features"])

    @classmethod
    def needs_discriminator(cls, cfg: Mapping[str, Any]) -> bool:
        """Whether a method with this config plays a domain game (no discriminator is built if not)."""
        return cls.uses_discriminator

    @classmethod
    def discriminator_shape(
        cls, tap_shape: tuple[int, ...], num_classes: int, cfg: Mapping[str, Any]
    ) -> tuple[int, ...]:
        """Shape of what the discriminator reads, given its tap's and the method's config: the
        tap itself, unless the method conditions it on more (CDAN's features x predictions)."""
        return tap_shape

    def domain_input(self, taps: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        """What the discriminator reads for one batch (see :meth:`discriminator_shape`)."""
        assert self.discriminator is not None
        return taps[self.discriminator.tap]

    def compilable(self) -> list[nn.Module]:
        """The modules the steps call directly: what ``trainer.compile=true`` compiles."""
        parts = [self.backbone.encoder, self.backbone.head, self.discriminator]
        return [m for m in parts if m is not None]

    def discriminator_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        """The discriminator's phase of a two-player game: the domain loss on one joint pass's
        taps, detached; the taps go on (as ``carry``) to the encoder's phase."""
        n = len(source[0])
        taps = self.encode_both(source[0], target[0])
        d = self.discriminator(taps[self.discriminator.tap].detach())
        dom_loss = domain_loss(d[:n], d[n:])
        metrics = {
            "loss/domain": dom_loss.detach(),
            "acc/domain_batch": domain_accuracy(d[:n].detach(), d[n:].detach()),
        }
        return dom_loss, metrics, taps

    def with_feature_penalty(
        self, loss: torch.Tensor, features: torch.Tensor, n: int, metrics: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``loss`` plus the attached add-on's term on ``features`` (``n`` source rows first)."""
        if self.feature_penalty is None:
            return loss
        term = self.feature_penalty(features[:n], features[n:])
        metrics["loss/feature_penalty"] = term.detach()
        return loss + term

    def learning_rate(self) -> float:
        return float(next(iter(self.optimizers.values())).param_groups[0]["lr"])

    def train_step(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        """Update on one source batch (labelled) and one target batch (labels unused).

        Returns detached scalar metrics; reading them forces a device sync, so the runner only
        reads them at logging intervals.
        """
        if self.schedule is not None:
            self.schedule.apply(step)
        return self.update(source, target, step)

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        """The update at ``step`` as (optimiser name, loss) pairs, in order: each loss is computed,
        then that optimiser steps on it.  Called once per step on the host, so it may switch
        stages.  Written so, with no host reads or random draws inside a loss, a method trains
        stacked with others (:mod:`adda.stacking`); one that needs more overrides :meth:`update`."""
        raise NotImplementedError(f"{type(self).__name__} overrides update(), not phases()")

    def update(self, source: Batch, target: Batch, step: int) -> dict[str, torch.Tensor]:
        metrics = self.apply_phases(self.phases(step), source, target, step)
        self.after_update(step)
        return metrics

    def apply_phases(
        self, plan: list[tuple[str, PhaseLoss]], source: Batch, target: Batch, step: int | torch.Tensor
    ) -> Tensors:
        """The device side of an update: each phase's loss, then its optimiser's step.  ``step``
        may be a 0-d tensor (:mod:`adda.graphs` replays this as a CUDA graph, reading it there)."""
        metrics: Tensors = {}
        carry: Tensors = {}
        for name, loss_of in plan:
            loss, phase_metrics, carry = loss_of(source, target, step, carry)
            self.step(self.optimizers[name], loss)
            metrics |= phase_metrics
        return metrics

    def after_update(self, step: int) -> None:
        """Host-side work after the phases' steps (self-training's teacher follows its student)."""

    def forward(self, loss_of: PhaseLoss, source: Batch, target: Batch, step: int, carry: Tensors):
        """One phase's loss: the call :func:`torch.func.functional_call` makes for stacked runs."""
        return loss_of(source, target, step, carry)

    def cannot_stack(self) -> str | None:
        """Why this run cannot train stacked with others (``None``: it can)."""
        if type(self).update is not Method.update:
            return f"{type(self).__name__} writes its update as code, not as phases"
        return None

    def optimizer_state(self) -> dict[str, Any]:
        """The optimisers' state as an eager run on any device holds it: a learning rate that a
        CUDA graph reads as a tensor (:mod:`adda.graphs`) is saved as a number."""
        states = {name: opt.state_dict() for name, opt in self.optimizers.items()}
        for state in states.values():
            for group in state["param_groups"]:
                group["lr"] = float(group["lr"])
                if group.get("capturable"):
                    group["capturable"] = False
        return states

    def load_optimizer_state(self, state: Mapping[str, Any]) -> None:
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])

    @staticmethod
    def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


class OnBase(Method):
    """A method built on another that ``method.base`` names (self_training, bsp): the
    discriminator it needs, and the encoders it uses, are that base method's (``self.base``)."""

    owner = ""  # the registered name, for the one-line error about its base
    base: Method

    @classmethod
    def base_of(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return base_config(cfg.get("base", "grl"), cls.owner)

    @classmethod
    def needs_discriminator(cls, cfg: Mapping[str, Any]) -> bool:
        base = cls.base_of(cfg)
        return METHODS.get(base["name"]).needs_discriminator(base)

    @classmethod
    def discriminator_shape(
        cls, tap_shape: tuple[int, ...], num_classes: int, cfg: Mapping[str, Any]
    ) -> tuple[int, ...]:
        base = cls.base_of(cfg)
        return METHODS.get(base["name"]).discriminator_shape(tap_shape, num_classes, base)

    def encode(self, x: torch.Tensor, domain: str = "source") -> dict[str, torch.Tensor]:
        return self.base.encode(x, domain)

    def domain_input(self, taps: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        return self.base.domain_input(taps, logits)

    def compilable(self) -> list[nn.Module]:
        return self.base.compilable()

    def cannot_stack(self) -> str | None:
        return super().cannot_stack() or self.base.cannot_stack()


class TargetBatchTerm(Method):
    """Source cross-entropy plus ``sign * weight`` times a term of the target batch's logits, in
    one joint pass with no discriminator (MCC minimises its term, BNM maximises its): a subclass
    gives :meth:`term`, its ``sign`` and the ``tag`` it is logged under."""

    uses_discriminator = False
    stacked_knobs = ("weight",)
    sign = 1.0
    tag = ""

    def __init__(self, backbone, discriminator, optim, steps, weight: float = 1.0) -> None:
        super().__init__(backbone, discriminator, optim, steps)
        self.per_run("weight", non_negative("weight", weight))
        self.optimizers["model"] = self.optimizer(self.backbone)
        self.start_schedule()

    def term(self, target_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def phases(self, step: int) -> list[tuple[str, PhaseLoss]]:
        return [("model", self.joint_loss)]

    def joint_loss(self, source: Batch, target: Batch, step: int, carry: Tensors):
        (xs, ys), (xt, _) = source, target
        logits = self.backbone(torch.cat([xs, xt]))
        n = len(xs)
        class_loss = F.cross_entropy(logits[:n], ys)
        value = self.term(logits[n:])
        metrics = {
            "loss/class": class_loss.detach(),
            self.tag: value.detach(),
            "acc/source_batch": (logits[:n].detach().argmax(1) == ys).float().mean(),
        }
        return class_loss + self.sign * self.weight * value, metrics, carry
