"""A training step reads nothing back from the device: on a GPU each such read (``.item()``, a
``bool`` of a tensor, a shape that depends on the data) waits for every queued kernel and keeps a
step from being captured as one CUDA graph.  The ops are traced on the CPU, where the same code runs.
"""

from contextlib import contextmanager

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from adda.registry import METHODS
from tests.conftest import built_method, capturable_methods

aten = torch.ops.aten
# Ops whose result the host must wait for: a number, or a shape that depends on the values.
READS = {aten._local_scalar_dense.default, aten.equal.default, aten.nonzero.default}
READS |= {aten.masked_select.default, aten._unique2.default, aten.unique_dim.default}


class HostReads(TorchDispatchMode):
    """Records each op that reads a tensor back to the host, outside optimiser steps (torch's
    Adam reads its step count, a host tensor by design, and is made capturable on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.in_optimizer = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.in_optimizer:
            bool_index = func is aten.index.Tensor and any(
                i is not None and i.dtype == torch.bool for i in args[1]
            )
            if func in READS or bool_index:
                self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


@contextmanager
def recording():
    mode = HostReads()

    def enter(*_):
        mode.in_optimizer += 1

    def leave(*_):
        mode.in_optimizer -= 1

    hooks = register_optimizer_step_pre_hook(enter), register_optimizer_step_post_hook(leave)
    try:
        with mode:
            yield mode
    finally:
        for hook in hooks:
            hook.remove()


def reads_of(method: str, steps: int, *extra: str, tensor_step: bool = False) -> list[str]:
    """The host reads of every training step of ``method`` (``steps`` steps, past any stage
    switch).  ``tensor_step``: the device side of each step alone, given the step as a 0-d
    tensor, as a CUDA graph replays it (:mod:`adda.graphs`)."""
    run, streams = built_method("debug=synthetic", f"method={method}", f"trainer.steps={steps}", *extra)
    reads = []
    for step in range(steps):
        batches = streams["source"].next(), streams["target"].next()
        plan = run.phases(step) if tensor_step else None
        with recording() as mode:
            if plan is None:
                run.train_step(*batches, step)
            else:
                run.apply_phases(plan, *batches, torch.tensor(float(step)))
        reads += mode.reads
    return reads


def test_the_probe_sees_an_item_and_a_boolean_mask():
    x = torch.randn(8)
    with recording() as mode:
        x.sum().item()
        x[x > 0].sum()
        float(x.max())
    item = "aten._local_scalar_dense.default"
    assert mode.reads == [item, "aten.index.Tensor", item]


def test_the_probe_ignores_an_optimiser_step():
    w = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([w])
    w.sum().backward()
    with recording() as mode:
        opt.step()
    assert mode.reads == []


@pytest.mark.parametrize("method", METHODS.names())
def test_a_training_step_reads_nothing_back_from_the_device(method):
    # 8 steps: adda pre-trains for 4 and adapts for 4 (its switch is host-side, between steps).
    assert reads_of(method, 8) == []


def test_adda_with_its_domain_accuracy_gate_reads_once_a_step_by_design():
    # min_domain_acc decides on the host whether the encoder steps: one read per adaptation step.
    reads = reads_of("adda", 8, "method.min_domain_acc=0.6")
    assert reads == ["aten._local_scalar_dense.default"] * 4


@pytest.mark.parametrize("method", capturable_methods())
def test_a_step_given_as_a_tensor_is_read_on_the_device_alone(method):
    # A graph's step is a 0-d tensor: a ramp that took it as a number would read it back.
    assert reads_of(method, 8, tensor_step=True) == []
