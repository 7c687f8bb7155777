"""adda as a user installs it: a built wheel run from an unrelated folder, and a separate plugin
package whose method ``method=<its name>`` then finds."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
QUICK = ("debug=synthetic", "trainer.steps=5", "data.eval_limit=50", "trainer.validation_samples=50")


def pip(*args, cwd=REPO):
    result = subprocess.run([*PIP, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


def run(cmd, site, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """adda's wheel, built from this checkout and installed (without its dependencies, which the
    test environment has) into a folder of its own."""
    root = tmp_path_factory.mktemp("wheel")
    pip("wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"))
    (wheel,) = (root / "dist").glob("adda-*.whl")
    pip("install", "--no-deps", "--no-index", "--target", str(root / "site"), str(wheel))
    return root / "site"


def test_the_wheel_holds_the_configs_and_runs_from_an_unrelated_folder(wheel_site, tmp_path):
    where = run([sys.executable, "-c", "import adda.config as c; print(c.CONF_DIR)"], wheel_site, tmp_path)
    assert where.stdout.strip() == str(wheel_site / "adda" / "conf"), where.stderr

    job = run([str(wheel_site / "bin" / "adda-train"), "--cfg", "job", *QUICK], wheel_site, tmp_path)
    assert job.returncode == 0, job.stderr
    assert "name: synthetic" in job.stdout and "steps: 5" in job.stdout

    out = tmp_path / "run"
    trained = run([sys.executable, "-m", "adda.train", *QUICK, f"hydra.run.dir={out}"], wheel_site, tmp_path)
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "done" and 0 <= metrics["target_acc"] <= 1
    assert str(out) in trained.stdout + trained.stderr  # says where it wrote

    report = run([str(wheel_site / "bin" / "adda-report"), str(tmp_path)], wheel_site, tmp_path)
    assert report.returncode == 0 and (tmp_path / "report.md").exists(), report.stderr
    assert str(tmp_path / "report.md") in report.stderr  # says where it wrote

    rescored = run(
        [str(wheel_site / "bin" / "adda-rescore"), str(out), "--validators", "bnm"], wheel_site, tmp_path
    )
    assert rescored.returncode == 0, rescored.stderr
    assert json.loads((out / "metrics.json").read_text())["rescored"] == ["bnm"]

    preview = tmp_path / "preview.png"
    shown = run(
        [str(wheel_site / "bin" / "adda-preview"), "debug=synthetic", f"preview.out={preview}"],
        wheel_site,
        tmp_path,
    )
    assert shown.returncode == 0 and preview.stat().st_size > 0, shown.stderr


PLUGIN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "adda-smoothing-plugin"
        version = "0.1.0"

        [project.entry-points."adda.plugins"]
        smoothing = "adda_smoothing"

        [tool.setuptools.packages.find]
        include = ["adda_smoothing*"]

        [tool.setuptools.package-data]
        adda_smoothing = ["conf/**/*.yaml"]
    """,
    "adda_smoothing/__init__.py": '''
        """Source-only training with label smoothing: a method from outside adda."""
        import torch.nn.functional as F

        from adda.checks import fraction
        from adda.methods.base import Method
        from adda.registry import METHODS


        @METHODS.register("smoothing")
        class LabelSmoothing(Method):
            uses_target = False
            uses_discriminator = False

            def __init__(self, backbone, discriminator, optim, steps, smoothing=0.1):
                super().__init__(backbone, discriminator, optim, steps)
                self.smoothing = fraction("smoothing", smoothing)
                self.optimizers["model"] = self.optimizer(self.backbone)
                self.start_schedule()

            def update(self, source, target, step):
                x, y = source
                loss = F.cross_entropy(self.backbone(x), y, label_smoothing=self.smoothing)
                self.step(self.optimizers["model"], loss)
                return {"loss/class": loss.detach()}
    ''',
    "adda_smoothing/conf/method/smoothing.yaml": """
        # Label smoothing on the source; no adaptation.
        name: smoothing
        smoothing: 0.2
    """,
}


def test_a_plugin_package_adds_a_method_that_the_command_line_finds(tmp_path):
    source = tmp_path / "plugin"
    for name, text in PLUGIN.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(textwrap.dedent(text).lstrip())
    site = tmp_path / "site"
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(source))

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "adda.train", *QUICK, "method=smoothing", f"hydra.run.dir={out}"]
    trained = run(cmd, site, tmp_path)
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["method"] == "smoothing"

    bad = run([*cmd[:-1], "method.smoothing=2", f"hydra.run.dir={tmp_path / 'bad'}"], site, tmp_path)
    errors = [line for line in (bad.stdout + bad.stderr).splitlines() if "ERROR" in line]
    assert bad.returncode == 2 and len(errors) == 1, bad.stderr
    assert "method.smoothing=2: must be a number in [0, 1]" in errors[0]
    assert not (tmp_path / "bad").exists()

    listed = run(
        [sys.executable, "-c", "from adda.registry import METHODS; print(METHODS.names())"], site, tmp_path
    )
    assert "'smoothing'" in listed.stdout and "'grl'" in listed.stdout


def test_python_entry_point_returns_the_metrics_and_writes_a_run_folder_the_report_reads(tmp_path):
    from adda.report import read_runs
    from adda.train import run_config

    metrics = run_config([*QUICK, "method=source_only"], out_dir=tmp_path / "nb")
    assert metrics["target_acc"] == json.loads((tmp_path / "nb" / "metrics.json").read_text())["target_acc"]
    (found,) = read_runs(tmp_path)
    assert found["metrics"]["status"] == "done" and "method=source_only" in found["overrides"]
    assert Path(found["dir"]) == tmp_path / "nb"
