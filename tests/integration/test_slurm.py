"""Sweeps on a real SLURM (scripts/slurm_local.sh): every run of a 4-run sweep done and reported,
the same sweep again skipping them, and runs that are preempted, requeued or out of time resuming
by themselves to exactly the metrics of an uninterrupted run."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, SYNTHETIC, wait_for
from tests.integration.test_sweeps import records

# The seed-sized jobs of the tests on a one-node cluster without GPUs.
ON_SLURM = (
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=10",
)
LONG = (*SYNTHETIC, "trainer.steps=600", "trainer.checkpoint_every=50", "data.eval_limit=200", "seed=0")
EXACT = ("source_acc", "target_acc", "source_val_acc", "domain_acc", "validators", "selected", "steps")


def cluster_is_up(env):
    try:
        return subprocess.run(["sinfo", "-h"], env=env, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The environment of a live SLURM: the one ``SLURM_CONF`` names (``.ci/run`` starts it), else
    one this fixture starts (with accounting) and stops.  Jobs use one thread, as the references do."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if env.get("SLURM_CONF") and cluster_is_up(env):
        yield env
        return
    folder = tmp_path_factory.mktemp("slurm")
    env |= {
        "ADDA_SLURM_DIR": str(folder),
        "ADDA_SLURM_PORT": "7917",
        "SLURM_CONF": str(folder / "slurm.conf"),
    }
    script = ["bash", str(REPO / "scripts" / "slurm_local.sh")]
    started = subprocess.run(
        [*script, "start", "--accounting"], env=env, capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        why = (started.stderr.strip().splitlines() or ["slurm_local.sh failed"])[-1]
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM tests, but {why}")
        pytest.skip(f"no SLURM here: {why}")
    try:
        yield env
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120)


def sweep_command(sweep, *overrides):
    return [sys.executable, "-m", "adda.train", "-m", *overrides, *ON_SLURM, f"hydra.sweep.dir={sweep}"]


def job_ids(sweep):
    """The sweep's SLURM array jobs (submitit keeps a folder per job and per array task)."""
    return sorted({p.name.split("_")[0] for p in (sweep / ".submitit").iterdir() if p.is_dir()})


def accounted_states(slurm, sweep, timeout=120):
    """The sweep's jobs' states in SLURM's accounting once none is still running (a job's result
    file, which the launcher waits for, is written just before the job ends); None without sacct."""
    end = time.time() + timeout
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids(sweep))],
            env=slurm,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            return None
        states = [line.split("|")[1] for line in out.stdout.split()]
        if not {"RUNNING", "COMPLETING", "PENDING"} & set(states) or time.time() > end:
            return states
        time.sleep(0.5)


def test_a_four_run_sweep_on_slurm_is_reported_and_the_same_sweep_again_skips_it(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = sweep_command(sweep, *SYNTHETIC, "trainer.steps=30", "data.eval_limit=200", "seed=0,1,2,3")
    result = subprocess.run(cmd, cwd=REPO, env=slurm, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Submitit 'slurm' sweep output dir" in result.stdout
    metrics = {name: json.loads(text) for name, text in records(sweep).items()}
    assert len(metrics) == 4 and all(m["status"] == "done" for m in metrics.values())
    for name in metrics:
        assert list((sweep / name / "tb").glob("events.out.tfevents.*")), name
    states = accounted_states(slurm, sweep)
    if states is not None:  # with accounting (as in CI): SLURM's own word on the four jobs
        assert states == ["COMPLETED"] * 4, states
    reported = subprocess.run(
        [sys.executable, "-m", "adda.report", str(sweep)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reported.returncode == 0, reported.stderr
    assert "| (defaults) | 4/4 |" in (sweep / "report.md").read_text()

    before = records(sweep)
    again = subprocess.run(cmd, cwd=REPO, env=slurm, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert records(sweep) == before
    for name, m in metrics.items():
        log = (sweep / name / "train.log").read_text()
        assert f"{sweep / name} is done (target_acc {m['target_acc']:.4f}): nothing to do" in log


@pytest.fixture(scope="module")
def uninterrupted(slurm, tmp_path_factory):
    """The long run's metrics, trained here in one go with the jobs' thread count."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    cmd = [sys.executable, "-m", "adda.train", *LONG, f"hydra.run.dir={run_dir}"]
    result = subprocess.run(cmd, cwd=REPO, env=slurm, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def preempt(slurm, sweep):
    """A job in the urgent partition that needs every CPU of the node: SLURM preempts the run."""
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=slurm, capture_output=True, text=True, timeout=60)
    subprocess.run(
        [
            "sbatch",
            "-p",
            "urgent",
            "-c",
            cpus.stdout.split()[0],
            "--mem=500",
            "-o",
            os.devnull,
            "--wrap",
            "sleep 1",
        ],
        env=slurm,
        check=True,
        capture_output=True,
        timeout=60,
    )


def requeue(slurm, sweep):
    subprocess.run(
        ["scontrol", "requeue", job_ids(sweep)[0]], env=slurm, check=True, capture_output=True, timeout=60
    )


@pytest.mark.parametrize(
    "how,extra,signal_seen",
    [
        (preempt, (), "stopped by signal 12 after step "),  # SIGUSR2: it checkpoints, submitit requeues
        (requeue, (), "stopped by signal 15 after step "),  # SIGTERM: it checkpoints, SLURM requeues
        (None, ("trainer.time_limit=0.08",), "stopped by its time limit (trainer.time_limit) after step "),
    ],
    ids=["preempted", "scontrol-requeue", "time-limit"],
)
def test_an_interrupted_slurm_run_resumes_by_itself_to_the_uninterrupted_runs_metrics(
    slurm, uninterrupted, tmp_path, how, extra, signal_seen
):
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        sweep_command(sweep, *LONG, *extra),
        cwd=REPO,
        env=slurm,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if how is not None:
        run_dir = None
        while run_dir is None:
            run_dir = next(iter(sweep.glob("0_*")), None)
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            time.sleep(0.2)
        wait_for(run_dir / "checkpoint.pt", proc, timeout=300)
        how(slurm, sweep)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    (run_dir,) = sweep.glob("0_*")
    log = (run_dir / "train.log").read_text()
    cuts = [int(step) for step in re.findall(r"resuming .* at step (\d+) \(it was interrupted\)", log)]
    assert signal_seen in log and cuts and all(0 < c < 600 for c in cuts), log[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "done"
    assert {k: metrics[k] for k in EXACT} == {k: uninterrupted[k] for k in EXACT}


def test_time_limit_auto_is_the_slurm_jobs_limit_less_a_margin(slurm, tmp_path):
    out = tmp_path / "out.txt"
    probe = "import time; from adda.scheduler import deadline; print(deadline('auto') - time.time())"
    subprocess.run(
        ["sbatch", "--wait", "-t", "5", "-o", str(out), "--wrap", f'{sys.executable} -c "{probe}"'],
        cwd=REPO,
        env=slurm,
        check=True,
        capture_output=True,
        timeout=300,
    )
    left = float(out.read_text().split()[-1])
    assert 150 < left < 240  # 5 minutes less a quarter (at most 2 minutes) and the job's start-up
