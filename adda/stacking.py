"""Runs of one configuration that differ only in their seed, trained together in one process.

Two ways to compute a group's step, one interface (:func:`group`):

* :class:`Stack` (``compute=batched``): each run keeps its own :class:`~adda.methods.Method`,
  built exactly as if it ran alone; its parameters and buffers become rows of stacked tensors
  (one row per run), so evaluating, checkpointing and selecting a run read its own row and need
  nothing new.  A step runs each phase of the update (:meth:`Method.phases`) once for all runs,
  through :func:`torch.func.vmap` over :func:`torch.func.functional_call`, and one optimiser per
  phase steps the stacked tensors: Adam and SGD are elementwise, so each row's update is its own
  run's.  This is what fills a GPU that one small run leaves waiting on kernel launches.
* :class:`Lockstep` (``compute=lockstep``): each run steps its own networks with its own
  optimisers, all runs at the same step, optionally several at once on threads.  On a CPU,
  where vmap's grouped convolutions are slower than one run's own kernels, this is as fast as
  the runs one after another or faster, and each run's numbers are exactly its own.

What ``vmap`` cannot batch is refused up front (:func:`cannot_stack`), for both ways alike (a
sweep's grouping does not depend on the device), and such runs train alone.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from torch.func import functional_call, vmap

from adda.methods import Method
from adda.methods.base import Batch, Tensors


def cannot_stack(method: Method) -> str | None:
    """Why ``method`` cannot train stacked (``None``: it can): an update not written as phases, a
    network that draws random numbers while training (dropout, which ``vmap`` would draw
    otherwise than a run alone), or compiled networks."""
    why = method.cannot_stack()
    if why is not None:
        return why
    random = [type(m).__name__ for m in method.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if random:
        return f"its networks draw random numbers while training ({random[0]})"
    if any(getattr(m, "_compiled_call_impl", None) is not None for m in method.modules()):
        return "its networks are compiled (trainer.compile=true), and stacking runs them uncompiled"
    return None


def _stack_rows(named: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One stacked tensor per name; each run's own tensor becomes a view of its row, so whatever
    holds it (its optimiser, its checkpoint code) keeps working on the stacked storage."""
    stacked = {}
    for name, first in named[0].items():
        rows = [run[name] for run in named]
        # Each row keeps the run's memory layout (channels_last weights stay so for evaluation).
        shape, strides = (len(rows), *first.shape), (first.numel(), *first.stride())
        both = torch.empty_strided(shape, strides, dtype=first.dtype, device=first.device)
        for k, row in enumerate(rows):
            both[k].copy_(row.detach())
            row.data = both[k]
        stacked[name] = both.requires_grad_(first.requires_grad)
    return stacked


class Stack:
    """``methods`` (one per run, same configuration but the seed) trained as one."""

    def __init__(self, methods: Sequence[Method]) -> None:
        self.methods, self.template = list(methods), methods[0]
        per_run = [dict(m.named_parameters()) for m in self.methods]
        self.params = _stack_rows(per_run)
        # A bool buffer steers control flow on the host (ADDA's stage); it stays each run's own.
        buffers = [{n: b for n, b in m.named_buffers() if b.dtype != torch.bool} for m in self.methods]
        self.buffers = _stack_rows(buffers)
        self.names = {id(p): n for n, p in per_run[0].items()}
        self.optimizers = {
            name: self._stacked_optimizer(opt) for name, opt in self.template.optimizers.items()
        }
        self.import_optimizer_states()

    def __len__(self) -> int:
        return len(self.methods)

    def close(self) -> None:
        """Nothing to release: the stacked tensors go with the runs."""

    def _stacked_optimizer(self, opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
        groups = [
            {
                **{k: v for k, v in g.items() if k != "params"},
                "params": [self.params[self.names[id(p)]] for p in g["params"]],
            }
            for g in opt.param_groups
        ]
        return type(opt)(groups, **opt.defaults)

    def _pairs(self, name: str, run: int):
        """(stacked tensor, run ``run``'s parameter) for each parameter of optimiser ``name``."""
        stacked, own = self.optimizers[name], self.methods[run].optimizers[name]
        for gs, g in zip(stacked.param_groups, own.param_groups, strict=True):
            yield from zip(gs["params"], g["params"], strict=True)

    def import_optimizer_states(self) -> None:
        """The stacked optimisers' state from the runs' own (restored from their checkpoints)."""
        for name, stacked in self.optimizers.items():
            columns = zip(*(list(self._pairs(name, run)) for run in range(len(self))), strict=True)
            for column in columns:
                (both, first), own = column[0], [m.optimizers[name] for m in self.methods]
                states = [opt.state.get(p) for opt, (_, p) in zip(own, column, strict=True)]
                if states[0]:
                    stacked.state[both] = {
                        k: torch.stack([s[k] for s in states]) if _elementwise(v, first) else _copy(v)
                        for k, v in states[0].items()
                    }

    def export_optimizer_states(self, run: int) -> None:
        """Run ``run``'s own optimisers get its row of the stacked state and the current
        hyperparameters: its checkpoint then holds what a run alone would have."""
        for name, stacked in self.optimizers.items():
            own = self.methods[run].optimizers[name]
            for gs, g in zip(stacked.param_groups, own.param_groups, strict=True):
                g.update({k: v for k, v in gs.items() if k != "params"})
            for both, p in self._pairs(name, run):
                if stacked.state.get(both):
                    own.state[p] = {
                        k: v[run].clone() if _elementwise(v, both) else _copy(v)
                        for k, v in stacked.state[both].items()
                    }

    def _follow(self, name: str) -> None:
        """The stacked optimiser ``name`` takes the first run's hyperparameters (its schedule's
        learning rate) and the stacked tensors its parameters' flags (ADDA freezes M_s)."""
        for gs, g in zip(
            self.optimizers[name].param_groups, self.template.optimizers[name].param_groups, strict=True
        ):
            gs.update({k: v for k, v in g.items() if k != "params"})
        for both, p in self._pairs(name, 0):
            both.requires_grad_(p.requires_grad)

    def __str__(self) -> str:
        return "batched: one vmapped model"

    def train_step(self, batches: Sequence[tuple[Batch, Batch] | None], step: int) -> list[Tensors]:
        """One step of every run on its own (source, target) batch; each run's metrics.  A run
        whose batch is ``None`` (it failed) still has a row to fill: it takes another run's."""
        live = next(b for b in batches if b is not None)
        batches = [live if b is None else b for b in batches]
        plans = []
        for method in self.methods:  # host-side work of each run: schedules, stage switches
            if method.schedule is not None:
                method.schedule.apply(step)
            plans.append(method.phases(step))
        # The runs side by side in dim 1, (B, K, C, H, W), next to the channels that vmap's grouped
        # convolution folds them into (dim 0 measured no faster on the CPU).
        source = tuple(torch.stack(parts, 1) for parts in zip(*(s for s, _ in batches), strict=True))
        target = tuple(torch.stack(parts, 1) for parts in zip(*(t for _, t in batches), strict=True))
        metrics: Tensors = {}
        carry: Tensors = {}
        for name, loss_of in plans[0]:
            self._follow(name)

            def one_run(params, buffers, source, target, carry, loss_of=loss_of):
                # One name per tensor, untied: a module reached by two paths (self-training's base
                # shares its model's) has one slot, swapped once and restored once.
                args = (loss_of, source, target, step, carry)
                return functional_call(self.template, (params, buffers), args, tie_weights=False)

            batched = vmap(one_run, in_dims=(0, 0, 1, 1, 0))
            loss, phase_metrics, carry = batched(self.params, self.buffers, source, target, carry)
            optimizer = self.optimizers[name]
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()  # rows share no parameter: each gets its own run's gradient
            optimizer.step()
            metrics |= phase_metrics
        for method in self.methods:
            method.after_update(step)
        return [{k: v[run] for k, v in metrics.items()} for run in range(len(self))]


class Lockstep:
    """``methods`` stepped together, each with its own networks and optimisers.  ``workers`` > 1
    steps that many runs at once on threads, each on one CPU thread: two small runs side by side
    keep two cores busier than one run's kernels split over both."""

    def __init__(self, methods: Sequence[Method], workers: int = 1) -> None:
        self.methods, self._workers = list(methods), workers
        self._pool = _one_thread_each(workers) if workers > 1 else None

    def __len__(self) -> int:
        return len(self.methods)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def export_optimizer_states(self, run: int) -> None:
        """Nothing to export: each run's optimisers are its own."""

    def __str__(self) -> str:
        return f"lockstep: each run its own networks, {self._workers} at once"

    def train_step(self, batches: Sequence[tuple[Batch, Batch] | None], step: int) -> list[Tensors]:
        """One step of every run on its own batch; a run whose batch is ``None`` (it failed) rests."""

        def one(method: Method, batch: tuple[Batch, Batch] | None) -> Tensors:
            return {} if batch is None else method.train_step(*batch, step)

        if self._pool is None:
            return [one(m, b) for m, b in zip(self.methods, batches, strict=True)]
        device = next(b for b in batches if b is not None)[0][0].device.type
        # Autocast is per thread: each worker takes the caller's (trainer.precision=bf16).
        cast = dict(dtype=torch.get_autocast_dtype(device), enabled=torch.is_autocast_enabled(device))

        def on_worker(method: Method, batch: tuple[Batch, Batch] | None) -> Tensors:
            with torch.autocast(device, **cast):
                return one(method, batch)

        return list(self._pool.map(on_worker, self.methods, batches))


def _one_thread_each(workers: int) -> ThreadPoolExecutor:
    """``workers`` threads, each computing on one CPU thread.  Setting that in a thread also sets
    the count new threads start with, so the caller's count is put back once all have started."""
    own, started = torch.get_num_threads(), threading.Barrier(workers + 1)

    def start() -> None:
        torch.set_num_threads(1)
        torch.get_num_threads()  # this thread's count is now fixed, whatever the default becomes

    pool = ThreadPoolExecutor(workers, initializer=start)
    waits = [pool.submit(started.wait) for _ in range(workers)]
    started.wait()
    for w in waits:
        w.result()
    torch.set_num_threads(own)
    return pool


COMPUTE = ("auto", "batched", "lockstep")


def check_way(compute: str, workers: int | str, prefix: str = "") -> None:
    """One line on a ``compute`` or ``workers`` that :func:`group` cannot take (``prefix``: where
    the user set them, such as ``hydra.launcher.``)."""
    if compute not in COMPUTE:
        raise ValueError(f"{prefix}compute={compute!r}: choose one of {', '.join(COMPUTE)}")
    if workers != "auto" and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"{prefix}workers={workers!r}: give a whole number >= 1, or auto")


def group(methods: Sequence[Method], compute: str = "auto", workers: int | str = "auto") -> Stack | Lockstep:
    """The runs ``methods`` as one group, computed ``compute``: ``batched`` (:class:`Stack`),
    ``lockstep`` (:class:`Lockstep` on ``workers`` threads; ``auto``: as many as torch's CPU
    threads, at most one per run), or ``auto``: batched on a GPU, lockstep on a CPU.
    docs/RESULTS.md, section 8, has the measurements behind both ``auto`` choices."""
    check_way(compute, workers)
    if compute == "auto":
        device = next(methods[0].parameters()).device
        compute = "batched" if device.type == "cuda" else "lockstep"
    if compute == "batched":
        return Stack(methods)
    return Lockstep(methods, min(len(methods), torch.get_num_threads()) if workers == "auto" else workers)


def _elementwise(value: object, param: torch.Tensor) -> bool:
    """Whether an optimiser state entry holds one number per element of ``param`` (Adam's
    moments, SGD's momentum) rather than one for all (Adam's step count)."""
    return torch.is_tensor(value) and value.shape == param.shape


def _copy(value: object) -> object:
    return value.clone() if torch.is_tensor(value) else value
