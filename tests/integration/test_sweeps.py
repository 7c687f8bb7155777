"""Sweeps on Hydra's engines: joblib in parallel, submitit_local, Optuna; one TensorBoard root per
sweep; a report whose numbers are the runs' own; failures recorded, never fatal to the sweep."""

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import pytest
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from tests.conftest import REPO, SYNTHETIC

QUICK = (*SYNTHETIC, "trainer.steps=10", "data.eval_limit=200")


def multirun(sweep, *overrides):
    cmd = [sys.executable, "-m", "adda.train", "-m", *QUICK, *overrides, f"hydra.sweep.dir={sweep}"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)


def report(sweep):
    cmd = [sys.executable, "-m", "adda.report", str(sweep)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return (sweep / "report.md").read_text()


def runs(sweep):
    return {
        p.name: json.loads((p / "metrics.json").read_text())
        for p in sweep.iterdir()
        if (p / ".hydra").is_dir()
    }


def test_joblib_2x2_sweep_one_tensorboard_root_and_a_report_of_the_runs_numbers(tmp_path):
    sweep = tmp_path / "sweep"
    result = multirun(
        sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "method=source_only,grl", "seed=0,1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = runs(sweep)
    assert len(metrics) == 4 and all(m["status"] == "done" for m in metrics.values())

    board = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    board.Reload()
    names = sorted(board.Runs())
    assert len(names) == 4 and all("method=" in n and "seed=" in n for n in names)  # named by overrides
    for name in names:
        assert "acc/target_test_acc" in board.Runs()[name]["scalars"]

    text = report(sweep)
    for method in ("source_only", "grl"):
        accs = [m["target_acc"] for name, m in metrics.items() if f"method={method}" in name]
        row = next(line for line in text.splitlines() if line.startswith(f"| method={method} |"))
        mean, std = statistics.mean(accs), statistics.stdev(accs)
        assert "| 2/2 |" in row and f"{mean:.4f} ± {std:.4f}" in row, row
    picture = Image.open(sweep / "report.png")
    assert picture.format == "PNG" and picture.size[0] > 300


def records(sweep):
    return {p.parent.name: p.read_bytes() for p in sweep.glob("*/metrics.json")}


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "stacked"])
def test_the_same_sweep_again_skips_every_done_run(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    overrides = (f"hydra/launcher={launcher}", "method=source_only", "seed=0,1")
    result = multirun(sweep, *overrides)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics, before = runs(sweep), records(sweep)
    assert len(metrics) == 2 and all(m["status"] == "done" for m in metrics.values())
    result = multirun(sweep, *overrides)
    assert result.returncode == 0, result.stderr[-2000:]
    assert records(sweep) == before
    for name in before:
        log = (sweep / name / "train.log").read_text()
        assert f"{sweep / name} is done (target_acc {metrics[name]['target_acc']:.4f}): nothing to do" in log


def test_a_sweep_job_whose_folder_holds_another_configs_run_leaves_that_run_as_it_was(tmp_path):
    sweep = tmp_path / "sweep"
    result = multirun(sweep, "method=grl", "seed=0", "hydra.sweep.subdir=job")
    assert result.returncode == 0, result.stderr[-2000:]
    before = records(sweep)
    result = multirun(sweep, "method=source_only", "seed=0", "hydra.sweep.subdir=job")  # the same folder
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{sweep / 'job'} holds a run of another config (method.name: 'grl' -> 'source_only'" in (
        result.stdout + result.stderr
    )
    assert records(sweep) == before and json.loads(before["job"])["method"] == "grl"


def test_a_sweep_run_again_skips_the_done_resumes_the_interrupted_and_reruns_the_failed(tmp_path):
    """The first attempt: the MNIST runs fail (no data where ADDA_DATA points), the first
    synthetic run finishes, Ctrl-C stops the sweep in the second; the second attempt, with the
    data in place, finishes the sweep."""
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "adda.train",
        "-m",
        *SYNTHETIC,
        "data.eval_limit=200",
        "source=mnist,synthetic",
        "seed=0,1",
        "trainer.steps=300",
        "trainer.checkpoint_every=20",
        f"hydra.sweep.dir={sweep}",
    ]
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "ADDA_DATA": str(tmp_path / "empty")}
    first = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    last = None  # the fourth run's folder, once the sweep has made it
    deadline = time.time() + 300
    while last is None or not (last / "checkpoint.pt").exists():
        assert first.poll() is None and time.time() < deadline, first.communicate()[0][-3000:]
        time.sleep(0.1)
        last = next(iter(sweep.glob("3_*")), None)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) == 130
    status = {name: json.loads(text)["status"] for name, text in records(sweep).items()}
    assert sorted(status.values()) == ["done", "failed", "failed", "interrupted"], status
    done_before = {n: t for n, t in records(sweep).items() if status[n] == "done"}

    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    said = second.stdout + second.stderr
    for name, was in status.items():
        folder = sweep / name
        expected = {
            "done": f"{folder} is done (target_acc ",
            "interrupted": f"resuming {folder} at step ",
            "failed": f"rerunning {folder} from the start: it failed (",
        }[was]
        assert expected in said, (name, said[-3000:])
    after = records(sweep)
    assert all(json.loads(t)["status"] == "done" for t in after.values()) and len(after) == 4
    assert {n: after[n] for n in done_before} == done_before
    text = report(sweep)
    assert "| source=mnist | 2/2 |" in text and "| source=synthetic | 2/2 |" in text, text


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    result = multirun(sweep, "method=grl", "optim.lr=0.001,0,0.002")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = runs(sweep)
    failed = {n: m for n, m in metrics.items() if m["status"] == "failed"}
    assert len(metrics) == 3 and list(failed) == [next(n for n in metrics if "optim.lr=0," in n + ",")]
    assert next(iter(failed.values()))["error"].startswith("optim.lr=0: must be a number > 0")
    text = report(sweep)
    assert "| optim.lr=0 | 0/1 | - |" in text and "failed optim.lr=0: must be" in text
    assert re.search(r"\| optim.lr=0.002 \| 1/1 \| \d", text)


def test_optuna_search_maximises_the_label_free_objective(tmp_path):
    sweep = tmp_path / "sweep"
    result = multirun(sweep, "search=lr_weight", "method=grl", "hydra.sweeper.n_trials=3")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = runs(sweep)
    assert len(metrics) == 3
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(m["source_val_acc"] for m in metrics.values())
    assert set(best["best_params"]) == {"optim.lr", "method.weight"}
    assert all(m["objective"] == "source_val_acc" for m in metrics.values())
    assert "no target label was used" in report(sweep)
