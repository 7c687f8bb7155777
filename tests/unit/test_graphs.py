"""What a CUDA graph of the training step relies on, checked on the CPU where the same code runs:
the step read from a tensor gives the same update, the learning rates change in place, the
checkpoints stay loadable by an eager run, and what cannot be captured is refused in one line."""

import pytest
import torch

from adda.errors import ConfigError
from adda.graphs import GraphedSteps
from adda.optim import LRSchedule
from tests.conftest import SYNTHETIC, built_method, capturable_methods


def metrics_of(method: str, tensor_step: bool, steps: int = 8) -> list[dict[str, float]]:
    """Each step's metrics of ``method`` stepped as :class:`GraphedSteps` steps it (the host's
    part, then the device's part given the step as a tensor), or as a run alone steps it."""
    run, streams = built_method(*SYNTHETIC, f"method={method}", f"trainer.steps={steps}")
    out = []
    for step in range(steps):
        batches = streams["source"].next(), streams["target"].next()
        if tensor_step:
            if run.schedule is not None:
                run.schedule.apply(step)
            metrics = run.apply_phases(run.phases(step), *batches, torch.tensor(float(step)))
            run.after_update(step)
        else:
            metrics = run.train_step(*batches, step)
        out.append({k: v.item() for k, v in metrics.items()})
    return out


@pytest.mark.parametrize("method", capturable_methods())
def test_the_step_read_from_a_tensor_updates_as_the_step_given_as_a_number(method):
    alone, graphed = metrics_of(method, False), metrics_of(method, True)
    assert [m.keys() for m in graphed] == [m.keys() for m in alone]
    for a, g in zip(alone, graphed, strict=True):
        for key in a:
            assert g[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key


def test_grls_ramp_moves_with_the_step_tensor():
    run, _ = built_method(*SYNTHETIC, "method=grl", "trainer.steps=100")
    ramps = [run.lam.ramp_at(torch.tensor(float(s))) for s in (0, 10, 50)]
    assert all(torch.is_tensor(r) and r.ndim == 0 for r in ramps)
    assert ramps[0].item() == 0.0 and 0 < ramps[1].item() < ramps[2].item() < 1
    assert ramps[2].item() == pytest.approx(run.lam.ramp_at(50), rel=1e-6)


@pytest.mark.parametrize("schedule", ["step", "dann"])
def test_a_learning_rate_held_as_a_tensor_is_scheduled_in_place(schedule):
    w = torch.nn.Parameter(torch.zeros(2))
    plain, held = torch.optim.Adam([w], lr=0.01), torch.optim.Adam([w], lr=0.01)
    cfg = dict(schedule=schedule, decay_at=[0.5], decay_gamma=0.1)
    plain_schedule, held_schedule = LRSchedule([plain], 10, **cfg), LRSchedule([held], 10, **cfg)
    lr = held.param_groups[0]["lr"] = torch.tensor(0.01)
    for step in range(10):
        plain_schedule.apply(step)
        held_schedule.apply(step)
        assert held.param_groups[0]["lr"] is lr  # the address a graph recorded stays the one read
        assert lr.item() == pytest.approx(plain.param_groups[0]["lr"], rel=1e-6)
    assert lr.item() < 0.01


def test_a_checkpoint_saves_tensor_learning_rates_as_numbers_for_an_eager_resume():
    run, _ = built_method(*SYNTHETIC, "method=adda")
    for opt in run.optimizers.values():
        for group in opt.param_groups:
            group["lr"], group["capturable"] = torch.tensor(float(group["lr"])), True
    state = run.optimizer_state()
    groups = [g for s in state.values() for g in s["param_groups"]]
    assert groups and all(type(g["lr"]) is float and not g["capturable"] for g in groups)
    assert all(torch.is_tensor(g["lr"]) for o in run.optimizers.values() for g in o.param_groups)
    fresh, _ = built_method(*SYNTHETIC, "method=adda")
    fresh.load_optimizer_state(state)
    assert fresh.learning_rate() == pytest.approx(run.learning_rate())


def test_a_method_that_writes_its_update_as_code_is_refused_in_one_line():
    run, _ = built_method(*SYNTHETIC, "method=mcd")
    with pytest.raises(ConfigError, match=r"^trainer.cuda_graph=true: .*as code.*cuda_graph=false$"):
        GraphedSteps(run)


def test_a_capturable_step_on_the_cpu_is_told_to_use_cuda():
    run, _ = built_method(*SYNTHETIC, "method=grl")
    lr = run.optimizers["model"].param_groups[0]["lr"]
    with pytest.raises(ConfigError, match=r"needs a CUDA device, not cpu: set device=cuda$"):
        GraphedSteps(run)
    assert run.optimizers["model"].param_groups[0]["lr"] == lr  # refused before touching anything
