"""A run's whole training step replayed from CUDA graphs (``trainer.cuda_graph=true``).

A small network's step is a hundred or so tiny kernels, and eagerly the GPU waits on Python to
launch each one.  A CUDA graph records the kernels of a step (forward, backward and every
optimiser's update) once and replays them with one launch.  What a replay reads must then stay
at the addresses recorded and change in place: the batches (copied into the graph's own input
tensors), the step (a 0-d tensor that the ramps read on the device) and the learning rates
(0-d tensors that the schedule fills).  What the host decides per step (the method's phases,
ADDA's stage, the networks' train/eval modes, the batch shapes) selects a graph: one per
distinct plan, captured after a few eager steps of that plan on the capturing stream, which
create the optimisers' state and the libraries' handles.  Metrics stay on the device, read at log intervals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

import torch

from adda.errors import ConfigError
from adda.methods import Method
from adda.methods.base import Batch, PhaseLoss, Tensors

WARMUP_STEPS = 3  # eager steps of a plan before it is captured (PyTorch's guide: a few, on a side stream)


def cannot_capture(method: Method) -> str | None:
    """Why ``method``'s step cannot be captured (``None``: it can).  The contract is stacking's:
    an update written as phases, with nothing read on the host inside a loss; random numbers
    from the default generator (dropout, VAT) are fine, a graph replays them anew."""
    why = method.cannot_stack()
    if why is not None:
        return why
    for name, opt in method.optimizers.items():
        if not all(g.get("fused") or "capturable" in g for g in opt.param_groups):
            return f"its optimiser {name!r} ({type(opt).__name__}) is neither fused nor capturable"
    return None


@dataclass
class Captured:
    """One plan's graph, the input tensors it reads and the metric tensors it writes."""

    graph: torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]  # source images, labels, target images, labels
    metrics: Tensors

    def replay(self, source: Batch, target: Batch) -> Tensors:
        for static, fresh in zip(self.inputs, (*source, *target), strict=True):
            static.copy_(fresh)
        self.graph.replay()
        return self.metrics  # overwritten by the next replay: the loop's meter sums them first


class GraphedSteps:
    """``method.train_step`` as graph replays: call it with the same arguments."""

    def __init__(self, method: Method, warmup: int = WARMUP_STEPS) -> None:
        why = cannot_capture(method)
        if why is not None:
            raise ConfigError(f"trainer.cuda_graph=true: {why}; set trainer.cuda_graph=false")
        device = next(method.parameters()).device
        if device.type != "cuda":
            raise ConfigError(f"trainer.cuda_graph=true needs a CUDA device, not {device}: set device=cuda")
        self.method, self.warmup = method, warmup
        self.step = torch.zeros((), device=device)
        for opt in method.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = torch.tensor(float(group["lr"]), device=device)
                if "capturable" in group:
                    group["capturable"] = True
            for state in opt.state.values():  # a step count restored on the host moves to the device
                if torch.is_tensor(state.get("step")):
                    state["step"] = state["step"].to(device)
        self.graphs: dict[Hashable, Captured] = {}
        self.eager_steps: Counter[Hashable] = Counter()
        self.side = torch.cuda.Stream(device)

    def __call__(self, source: Batch, target: Batch, step: int) -> Tensors:
        method = self.method
        if method.schedule is not None:
            method.schedule.apply(step)
        plan = method.phases(step)
        key = self.key(plan, source, target)
        captured = self.graphs.get(key)
        if captured is None and self.eager_steps[key] < self.warmup:
            self.eager_steps[key] += 1
            metrics = self.eager(plan, source, target, step)
        else:
            if captured is None:
                captured = self.graphs[key] = self.capture(plan, source, target)
            self.step.fill_(step)
            metrics = captured.replay(source, target)
        method.after_update(step)
        return metrics

    def key(self, plan: list[tuple[str, PhaseLoss]], source: Batch, target: Batch) -> Hashable:
        """What a graph was recorded for: the plan's phases, the modes, the batch shapes."""
        phases = tuple((n, getattr(f, "__func__", f), id(getattr(f, "__self__", None))) for n, f in plan)
        modes = tuple(m.training for m in self.method.modules())
        return phases, modes, tuple(t.shape for t in (*source, *target))

    def eager(self, plan: list[tuple[str, PhaseLoss]], source: Batch, target: Batch, step: int) -> Tensors:
        """A warm-up step, on the side stream that captures too: libraries' per-stream handles
        (cuBLAS's workspace) are then made before a capture, which may not allocate them."""
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            metrics = self.method.apply_phases(plan, source, target, step)
        torch.cuda.current_stream().wait_stream(self.side)
        return metrics

    def capture(self, plan: list[tuple[str, PhaseLoss]], source: Batch, target: Batch) -> Captured:
        inputs = tuple(t.clone() for t in (*source, *target))
        graph = torch.cuda.CUDAGraph()
        for opt in self.method.optimizers.values():
            opt.zero_grad(set_to_none=True)  # the gradients are then allocated in the graph's memory
        # Autocast's cache of cast weights would hold tensors from outside the graph: off inside.
        cast = torch.autocast(
            "cuda",
            dtype=torch.get_autocast_dtype("cuda"),
            enabled=torch.is_autocast_enabled("cuda"),
            cache_enabled=False,
        )
        try:
            with cast, torch.cuda.graph(graph, stream=self.side):
                metrics = self.method.apply_phases(plan, inputs[:2], inputs[2:], self.step)
        except RuntimeError as err:
            name = type(self.method).__name__
            first = str(err).strip().splitlines()[0]
            raise ConfigError(
                f"trainer.cuda_graph=true: {name}'s step could not be captured ({first}); "
                "set trainer.cuda_graph=false"
            ) from err
        return Captured(graph, inputs, metrics)
