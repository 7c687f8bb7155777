"""hydra/launcher=stacked: a sweep's runs of one config but the seed train as one model, and each
run's folder is what it would be had it run alone."""

import json
import math
import signal
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from adda.fit import Interrupted
from adda.stacking import Lockstep, Stack
from adda.train import Session, train_stacked
from tests.conftest import REPO, SYNTHETIC, compose_cfg, signal_in_final_evaluation

QUICK = (*SYNTHETIC, "trainer.steps=20", "data.eval_limit=200")


def multirun(sweep, *overrides):
    cmd = [sys.executable, "-m", "adda.train", "-m", *QUICK, *overrides, f"hydra.sweep.dir={sweep}"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)


def runs(sweep):
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


def scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.parametrize(
    "compute, said_as",
    [
        ("batched", "batched: one vmapped model"),
        ("lockstep", "lockstep: each run its own networks, 2 at once"),
    ],
)
def test_a_stacked_sweep_writes_each_run_as_the_basic_launcher_does(tmp_path, compute, said_as):
    sweep = ("method=grl,source_only", "seed=0,1,2", "hydra.launcher.max_stack=2")
    way = (f"hydra.launcher.compute={compute}", "hydra.launcher.workers=2")
    stacked = multirun(tmp_path / "stacked", "hydra/launcher=stacked", *sweep, *way)
    assert stacked.returncode == 0, stacked.stderr[-3000:]
    said = stacked.stdout + stacked.stderr
    assert said.count(f"2 runs of grl train stacked ({said_as})") == 1  # seeds 0, 1; then 2 alone
    assert said.count(f"2 runs of source_only train stacked ({said_as})") == 1
    alone = multirun(tmp_path / "alone", *sweep[:2])
    assert alone.returncode == 0, alone.stderr[-3000:]

    ours, theirs = runs(tmp_path / "stacked"), runs(tmp_path / "alone")
    assert ours.keys() == theirs.keys() and len(ours) == 6
    for name, metrics in ours.items():
        run = tmp_path / "stacked" / name
        assert metrics["status"] == "done", metrics
        for part in (
            ".hydra/config.yaml",
            ".hydra/overrides.yaml",
            "checkpoint.pt",
            "selected.pt",
            "train.log",
        ):
            assert (run / part).is_file(), part
        stacked_run = "seed=2" not in name  # seed 2 made a group of one: it trained alone
        assert f"{name + ': ' if stacked_run else ''}step 20/20 (100%)" in (run / "train.log").read_text()
        assert abs(metrics["target_acc"] - theirs[name]["target_acc"]) <= 0.01
        ours_loss = scalars(run, "loss/class")
        theirs_loss = scalars(tmp_path / "alone" / name, "loss/class")
        assert [s for s, _ in ours_loss] == [s for s, _ in theirs_loss] == [10, 20]
        assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(ours_loss, theirs_loss, strict=True))
        checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
        assert checkpoint["step"] == 20 and checkpoint["config"]["seed"] == metrics["seed"]
    report = subprocess.run(
        [sys.executable, "-m", "adda.report", str(tmp_path / "stacked")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (
        report.returncode == 0 and "| method=grl | 3/3 |" in (tmp_path / "stacked" / "report.md").read_text()
    )


def test_a_stacked_sweep_stopped_by_its_time_limit_resumes_exactly(tmp_path):
    sweep = ("hydra/launcher=stacked", "method=adda", "seed=0,1", "hydra.sweep.subdir=run${hydra.job.num}")
    whole = multirun(tmp_path / "whole", *sweep)
    assert whole.returncode == 0, whole.stderr[-3000:]
    stopped = multirun(tmp_path / "parts", *sweep, "trainer.time_limit=0.0001")  # 6 ms: one step
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    first = runs(tmp_path / "parts")
    assert [m["status"] for m in first.values()] == ["interrupted"] * 2
    assert all(m["step"] < 20 for m in first.values()), first
    resumed = multirun(tmp_path / "parts", *sweep)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = resumed.stdout + resumed.stderr
    assert "2 runs of adda train stacked (lockstep" in said  # auto, on the CPU
    for name, metrics in first.items():
        assert f"resuming {tmp_path / 'parts' / name} at step {metrics['step']} (it was interrupted)" in said
    for name, metrics in runs(tmp_path / "parts").items():
        reference = runs(tmp_path / "whole")[name]
        assert metrics["status"] == "done" and metrics["target_acc"] == reference["target_acc"]
        assert metrics["validators"] == reference["validators"]
        assert (
            scalars(tmp_path / "parts" / name, "loss/domain")[-1]
            == scalars(tmp_path / "whole" / name, "loss/domain")[-1]
        )


@pytest.mark.parametrize("compute", ["batched", "lockstep"])
def test_a_run_that_fails_in_a_stack_ends_failed_and_the_others_go_on(tmp_path, compute):
    sessions = []
    for seed in (0, 1, 2):
        cfg = compose_cfg(*QUICK, "method=grl", f"seed={seed}", "trainer.log_every=5")
        sessions.append(Session(cfg, tmp_path / f"run{seed}", None))
    with torch.no_grad():
        sessions[1].method.backbone.head.weight.fill_(math.nan)  # its loss is NaN from the start
    outcomes = train_stacked(sessions, compute)
    status = [json.loads((tmp_path / f"run{s}" / "metrics.json").read_text()) for s in (0, 1, 2)]
    assert [s["status"] for s in status] == ["done", "failed", "done"]
    assert "loss/class=nan by step 5" in status[1]["error"]
    assert isinstance(outcomes[1], Exception) and outcomes[0]["target_acc"] > 0.2
    assert not (tmp_path / "run1" / "checkpoint.pt").exists()
    assert scalars(tmp_path / "run2", "acc/target_test_acc")[-1][0] == 20


def test_a_stop_signal_in_a_groups_final_evaluation_waits_for_every_runs_results(tmp_path, monkeypatch):
    sessions = [
        Session(compose_cfg(*QUICK, "method=grl", f"seed={s}"), tmp_path / f"run{s}", None) for s in (0, 1)
    ]
    signal_in_final_evaluation(monkeypatch, signal.SIGTERM)
    outcomes = train_stacked(sessions, "lockstep")
    for seed, outcome in zip((0, 1), outcomes, strict=True):
        record = json.loads((tmp_path / f"run{seed}" / "metrics.json").read_text())
        assert record["status"] == "done" and record["steps"] == 20
        assert isinstance(outcome, Interrupted) and outcome.signum == signal.SIGTERM


@pytest.mark.parametrize("compute, way", [("batched", Stack), ("lockstep", Lockstep)])
def test_a_stacked_step_that_raises_ends_every_run_failed_with_its_error(tmp_path, monkeypatch, compute, way):
    sessions = [
        Session(compose_cfg(*QUICK, "method=grl", f"seed={s}"), tmp_path / f"run{s}", None) for s in (0, 1)
    ]

    def broken(self, batches, step):
        raise RuntimeError("vmap could not batch this")

    monkeypatch.setattr(way, "train_step", broken)
    outcomes = train_stacked(sessions, compute)
    for seed, outcome in zip((0, 1), outcomes, strict=True):
        record = json.loads((tmp_path / f"run{seed}" / "metrics.json").read_text())
        assert record["status"] == "failed" and "vmap could not batch this" in record["error"]
        assert isinstance(outcome, RuntimeError)


def test_an_unknown_way_to_compute_a_group_is_one_line_naming_the_choices(tmp_path):
    bad = multirun(tmp_path / "bad", "hydra/launcher=stacked", "hydra.launcher.compute=fast", "seed=0,1")
    assert bad.returncode != 0
    assert "hydra.launcher.compute='fast': choose one of auto, batched, lockstep" in bad.stderr
    assert "Traceback" not in bad.stderr and not list(tmp_path.glob("bad/*/metrics.json"))
