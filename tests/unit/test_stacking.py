"""Stacked runs (adda.stacking): each run's losses, states and checkpoints are those it has alone."""

import contextlib
import copy
import threading

import pytest
import torch

from adda.data import build_domains, load_splits
from adda.registry import METHODS
from adda.runtime import seed_everything
from adda.stacking import Lockstep, Stack, cannot_stack, group
from adda.train import batch_streams, build_method
from tests.conftest import compose_cfg

SEEDS = (0, 1, 2)


def built(method: str, seed: int, steps: int, *extra: str):
    cfg = compose_cfg("debug=synthetic", f"method={method}", f"seed={seed}", f"trainer.steps={steps}", *extra)
    splits = load_splits(cfg)
    seed_everything(cfg.seed)
    run = build_method(cfg, torch.device("cpu"), len(splits[0].classes))
    streams = batch_streams(build_domains(cfg, torch.device("cpu"), splits), cfg, torch.device("cpu"))
    return run, streams


def draw(streams):
    """A source and a target batch, their images in the default dtype (float64 under `in_float64`)."""
    dtype = torch.get_default_dtype()
    return tuple((x.to(dtype), y) for x, y in (streams["source"].next(), streams["target"].next()))


@pytest.fixture
def in_float64():
    """Build and train in float64, for comparisons that hold up to rounding.

    A stacked step sums in another order than the run alone; ten steps of training magnify float32's
    1e-7 by up to 1e3 on some CPUs, while float64's 1e-16 stays far below any real difference.
    """
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def alone(method: str, seed: int, steps: int, *extra: str) -> list[dict[str, float]]:
    run, streams = built(method, seed, steps, *extra)
    return [{k: v.item() for k, v in run.train_step(*draw(streams), step).items()} for step in range(steps)]


def stacked(method: str, steps: int, *extra: str, seeds=SEEDS, until=None, make=Stack):
    runs = [built(method, seed, steps, *extra) for seed in seeds]
    stack = make([run for run, _ in runs])
    history = [[] for _ in seeds]
    for step in range(steps if until is None else until):
        for k, metrics in enumerate(stack.train_step([draw(s) for _, s in runs], step)):
            history[k].append({name: v.item() for name, v in metrics.items()})
    return stack, runs, history


def worst_difference(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    assert len(a) == len(b) and all(x.keys() == y.keys() for x, y in zip(a, b, strict=True))
    return max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in x)


STACKABLE = [name for name in METHODS.names() if cannot_stack(built(name, 0, 4)[0]) is None]


@pytest.mark.parametrize("method", ["grl", "adda"])
def test_each_stacked_run_has_the_losses_it_has_alone_over_20_steps_in_fp32(method):
    _, _, history = stacked(method, 20)  # adda: 10 pre-training steps, then 10 of adaptation
    for k, seed in enumerate(SEEDS):
        own = alone(method, seed, 20)
        assert worst_difference(history[k], own) < 1e-4
    assert history[0] != history[1]  # the seeds make different runs: the rows are not one run


@pytest.mark.parametrize("method", STACKABLE)
def test_every_stackable_method_matches_its_runs_alone(method, in_float64):
    _, _, history = stacked(method, 10, seeds=(0, 1))
    for k, seed in enumerate((0, 1)):
        assert worst_difference(history[k], alone(method, seed, 10)) < 1e-9


@pytest.mark.parametrize("method", ["grl", "adda"])
def test_stacked_runs_normalise_their_input_as_they_do_alone(method, in_float64):
    """The input's instance norm is a forward pre-hook: vmap over functional_call must still run it."""
    _, _, history = stacked(method, 10, "backbone.input_norm=instance", seeds=(0, 1))
    for k, seed in enumerate((0, 1)):
        normed = alone(method, seed, 10, "backbone.input_norm=instance")
        assert worst_difference(history[k], normed) < 1e-9
        assert worst_difference(normed, alone(method, seed, 10)) > 1e-6  # the norm changed the run


@pytest.mark.parametrize("method", ["grl", "adda"])
def test_runs_in_lockstep_are_exactly_their_runs_alone(method):
    _, _, history = stacked(method, 20, make=Lockstep)
    for k, seed in enumerate(SEEDS):
        assert history[k] == alone(method, seed, 20)  # the same kernels in the same order: bit for bit
    assert history[0] != history[1]


@contextlib.contextmanager
def cpu_threads(n: int):
    """Compute on n threads inside, whatever OMP_NUM_THREADS the caller set."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_runs_in_lockstep_on_two_threads_are_exactly_their_runs_alone_on_one_cpu_thread():
    _, _, history = stacked("grl", 20, make=lambda runs: Lockstep(runs, workers=2))
    with cpu_threads(1):  # what each worker computes on
        for k, seed in enumerate(SEEDS):
            assert history[k] == alone("grl", seed, 20)
    with cpu_threads(2):  # two threads split the reductions otherwise than one: close, not equal
        assert 0 < worst_difference(history[0], alone("grl", SEEDS[0], 20)) < 1e-4


def test_lockstep_threads_compute_in_the_callers_precision_on_one_cpu_thread_each():
    runs = [built("grl", seed, 4) for seed in (0, 1)]
    seen = []
    for run, _ in runs:
        own = run.train_step

        def spy(*args, own=own):
            cast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
            seen.append((*cast, torch.get_num_threads()))
            seen.append(threading.current_thread() is threading.main_thread())
            return own(*args)

        run.train_step = spy
    threads = torch.get_num_threads()
    lockstep = Lockstep([run for run, _ in runs], workers=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        metrics = lockstep.train_step([draw(s) for _, s in runs], 0)
    lockstep.close()
    assert seen[0::2] == [(True, torch.bfloat16, 1)] * 2 and seen[1::2] == [False, False]
    assert all(torch.isfinite(v) for m in metrics for v in m.values())
    counts = []  # neither this thread nor one started later computes on fewer threads than before
    later = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert torch.get_num_threads() == counts[0] == threads


def test_a_failed_run_rests_in_lockstep_while_the_others_step():
    runs = [built("grl", seed, 4) for seed in (0, 1)]
    before = [p.detach().clone() for p in runs[1][0].parameters()]
    metrics = Lockstep([run for run, _ in runs]).train_step([draw(runs[0][1]), None], 0)
    assert metrics[1] == {} and "loss/class" in metrics[0]
    assert all(torch.equal(a, b) for a, b in zip(before, runs[1][0].parameters(), strict=True))


def test_auto_computes_a_cpu_group_in_lockstep_and_refuses_an_unknown_way():
    runs = [built("grl", seed, 4)[0] for seed in (0, 1)]
    assert isinstance(group(runs), Lockstep) and str(group(runs, workers=2)).endswith("2 at once")
    assert isinstance(group(runs, "batched"), Stack)
    with pytest.raises(ValueError, match="compute='fast': choose one of auto, batched, lockstep"):
        group(runs, "fast")
    with pytest.raises(ValueError, match="workers=0: give a whole number >= 1"):
        group(runs, workers=0)


def test_the_stacked_methods_include_the_joint_and_the_staged_games():
    assert {"source_only", "grl", "cdan", "adda", "minimax", "confusion"} <= set(STACKABLE)


def test_a_method_that_cannot_stack_says_why():
    why = cannot_stack(built("mcd", 0, 4)[0])
    assert why is not None and "phases" in why
    gated = cannot_stack(built("adda", 0, 4, "method.min_domain_acc=0.6")[0])
    assert gated is not None and "min_domain_acc" in gated
    dropout = cannot_stack(built("grl", 0, 4, "backbone=dtn")[0])
    assert dropout is not None and "Dropout" in dropout


def test_each_run_reads_and_writes_its_own_row_of_the_stack():
    stack, runs, _ = stacked("grl", 3)
    for name, both in stack.params.items():
        for k, (run, _) in enumerate(runs):
            own = dict(run.named_parameters())[name]
            assert own.data_ptr() == both[k].data_ptr()  # a view: its evaluation sees the stacked values
    assert not torch.equal(stack.params["backbone.head.weight"][0], stack.params["backbone.head.weight"][1])


def test_a_runs_checkpointed_optimiser_state_is_the_one_it_has_alone(in_float64):
    stack, runs, _ = stacked("grl", 5)
    stack.export_optimizer_states(1)
    ours = runs[1][0].optimizer_state()["model"]
    run, streams = built("grl", SEEDS[1], 5)
    for step in range(5):
        run.train_step(*draw(streams), step)
    theirs = run.optimizer_state()["model"]
    assert ours["state"].keys() == theirs["state"].keys() and len(ours["state"]) > 0
    for i, state in theirs["state"].items():
        assert float(ours["state"][i]["step"]) == float(state["step"]) == 5
        for key in ("exp_avg", "exp_avg_sq"):
            assert ours["state"][i][key].shape == state[key].shape
            assert torch.allclose(ours["state"][i][key], state[key], atol=1e-12, rtol=1e-9)
    assert ours["param_groups"][0]["lr"] == theirs["param_groups"][0]["lr"]


def test_a_stack_rebuilt_from_its_runs_checkpoints_continues_exactly():
    stack, runs, _ = stacked("adda", 12, until=8)  # stopped at step 8, in the adaptation stage
    saved = []
    for k, (run, streams) in enumerate(runs):
        stack.export_optimizer_states(k)  # what its checkpoint holds
        state = (run.state_dict(), run.optimizer_state(), {n: s.state_dict() for n, s in streams.items()})
        saved.append(copy.deepcopy(state))
    on = [continue_for(stack, runs, 8, 12)]

    rebuilt = []
    for seed, (model, optimizers, positions) in zip(SEEDS, saved, strict=True):
        run, streams = built("adda", seed, 12)
        run.load_state_dict(model)
        run.load_optimizer_state(optimizers)
        for name, stream in streams.items():
            stream.load_state_dict(positions[name])
        rebuilt.append((run, streams))
    resumed = continue_for(Stack([run for run, _ in rebuilt]), rebuilt, 8, 12)
    assert resumed == on[0]


def continue_for(stack, runs, start, end):
    return [
        [{n: v.item() for n, v in m.items()} for m in stack.train_step([draw(s) for _, s in runs], step)]
        for step in range(start, end)
    ]
