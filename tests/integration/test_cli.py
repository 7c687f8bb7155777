"""``adda-train`` and ``adda-report`` as a user runs them: sweeps, and one-line errors."""

import json
import subprocess
import sys

from adda.registry import METHODS
from tests.conftest import REPO, SYNTHETIC


def adda_train(*args, cwd):
    cmd = [sys.executable, "-m", "adda.train", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def error_lines(result):
    return [line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()]


def test_unknown_group_option_lists_the_available_ones(tmp_path):
    result = adda_train("method=nope", cwd=tmp_path)
    assert result.returncode != 0
    assert "Could not find 'method/nope'" in result.stderr and "grl" in result.stderr


def test_unknown_registry_name_is_one_line(tmp_path):
    result = adda_train(*SYNTHETIC, "method.name=nope", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    known = ", ".join(sorted(METHODS.names()))
    assert len(lines) == 1 and f"unknown method 'nope'; known: {known}" in lines[0] and "grl" in known
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # rejected before any work: no run folder is left


def test_missing_data_with_download_off_is_one_line(tmp_path):
    result = adda_train(
        f"data.root={tmp_path}/nothing", "trainer.steps=1", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path
    )
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "fetch_mnist.py" in lines[0] and "data.download=true" in lines[0]


def test_a_cuda_graph_asked_for_on_the_cpu_is_one_line(tmp_path):
    result = adda_train(*SYNTHETIC, "trainer.cuda_graph=true", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    expected = "trainer.cuda_graph=true needs a CUDA device, not cpu: set device=cuda"
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()  # refused before the run began


def test_multirun_sweep_then_report(tmp_path):
    sweep = tmp_path / "sweep"
    result = adda_train(
        "-m",
        *SYNTHETIC,
        "method=source_only,grl",
        "trainer.steps=20",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 2  # each folder is named by its job number and overrides
    assert runs[0].startswith("0_") and "method=source_only" in runs[0]
    assert runs[1].startswith("1_") and "method=grl" in runs[1]
    for name in runs:
        assert json.loads((sweep / name / "metrics.json").read_text())["status"] == "done"
        assert any((sweep / name / "tb").iterdir())
    report = subprocess.run(
        [sys.executable, "-m", "adda.report", str(sweep)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert "method=grl" in report.stdout and "method=source_only" in report.stdout
    assert (sweep / "report.md").exists()


def test_help_opens_with_adda_and_says_how_to_start(tmp_path):
    result = adda_train("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("adda-train: adversarial unsupervised domain adaptation")
    assert "powered by Hydra" not in result.stdout.split("== Configuration groups ==")[0]
    assert "debug: mnist, synthetic" in result.stdout


def test_a_run_into_a_pipe_logs_plain_progress_lines_and_its_folder(tmp_path):
    out = tmp_path / "run"
    result = adda_train(
        *SYNTHETIC,
        "trainer.steps=20",
        "trainer.progress=auto",
        "data.eval_limit=50",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "\r" not in text  # no progress bar redrawn into a log
    steps = [line for line in text.splitlines() if "] - step " in line]
    assert [line.split("] - step ")[1].split()[0] for line in steps] == [f"{n}/20" for n in range(2, 21, 2)]
    assert f"writing to {out}" in text and f"wrote {out}" in text
