"""Sweeps on Hydra's engines: joblib in parallel, submitit_local, Optuna; one TensorBoard root per
sweep; a report whose numbers are the runs' own; failures recorded, never fatal to the sweep."""

import json
import re
import statistics
import subprocess
import sys

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


def test_submitit_local_sweep_runs_both_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    result = multirun(sweep, "hydra/launcher=submitit_local", "method=source_only", "seed=0,1")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = runs(sweep)
    assert len(metrics) == 2 and all(m["status"] == "done" for m in metrics.values())


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
