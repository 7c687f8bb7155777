"""Resume, interrupts, NaN guards, corrupt checkpoints and config validation."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from adda import checkpoint
from adda.errors import AddaError, ConfigError
from adda.fit import Interrupted, NonFiniteLoss
from adda.methods.base import Method
from adda.train import end_of, run
from tests.conftest import SYNTHETIC, signal_in_final_evaluation, wait_for

# with the validators' scores and the checkpoint they chose, kept across the interruption
EXACT = (
    "source_acc",
    "target_acc",
    "gap",
    "source_val_acc",
    "domain_acc",
    "steps",
    "status",
    "validators",
    "selected",
)


def interrupt_at(monkeypatch, stop_step, signum=signal.SIGINT):
    """Deliver a real signal to this process while training step ``stop_step - 1`` runs."""
    original = Method.train_step

    def step(self, source, target, step):
        if step == stop_step - 1:
            os.kill(os.getpid(), signum)
        return original(self, source, target, step)

    monkeypatch.setattr(Method, "train_step", step)


@pytest.mark.parametrize(
    "method,stop",
    [  # adda switches stage at step 20
        (("method=adda",), 13),
        (("method=adda",), 27),
        (("method=grl",), 21),
        (("method=minimax", "method.k_classifier=10"), 8),  # the seed's 10:1 alternation
    ],
)
def test_interrupted_and_resumed_run_ends_exactly_like_an_uninterrupted_one(
    synthetic_cfg, tmp_path, monkeypatch, method, stop
):
    overrides = (
        *method,
        "trainer.steps=40",
        "trainer.eval_every=15",
        "trainer.checkpoint_every=10",
    )
    straight = run(synthetic_cfg(*overrides), tmp_path / "straight")

    interrupt_at(monkeypatch, stop)
    with pytest.raises(Interrupted):
        run(synthetic_cfg(*overrides), tmp_path / "cut")
    monkeypatch.undo()
    state = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert state["status"] == "interrupted" and state["step"] == stop
    assert state["resume"] == f"adda-train trainer.resume={tmp_path / 'cut'}"
    assert checkpoint.load(tmp_path / "cut")["step"] == stop

    resumed = run(synthetic_cfg(f"trainer.resume={tmp_path / 'cut'}"), tmp_path / "elsewhere")
    assert {k: resumed[k] for k in EXACT} == {k: straight[k] for k in EXACT}
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text()) == resumed


def test_a_stop_signal_in_the_final_evaluation_stops_the_run_once_its_results_are_written(
    synthetic_cfg, tmp_path, monkeypatch, caplog
):
    handler = signal.getsignal(signal.SIGINT)
    signal_in_final_evaluation(monkeypatch)
    with pytest.raises(Interrupted, match="stopped by signal 2 once the results were written") as stop:
        run(synthetic_cfg("trainer.steps=20"), tmp_path / "run")
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is handler
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "done" and record["steps"] == 20 and 0 <= record["target_acc"] <= 1
    assert checkpoint.load(tmp_path / "run")["step"] == 20
    with pytest.raises(SystemExit) as exit_:  # the sweep stops, saying the run is done
        end_of(stop.value, synthetic_cfg("trainer.steps=20"), tmp_path / "run", sweeping=True)
    assert exit_.value.code == 130
    assert f"the run is done, its results stand in {tmp_path / 'run'}" in caplog.text
    assert run(synthetic_cfg("trainer.steps=20"), tmp_path / "run") == record  # nothing left to do


def test_non_finite_loss_stops_with_step_and_last_checkpoint(synthetic_cfg, tmp_path, monkeypatch):
    original = Method.train_step

    def poisoned(self, source, target, step):
        metrics = original(self, source, target, step)
        return {**metrics, "loss/class": torch.tensor(float("nan"))} if step >= 25 else metrics

    monkeypatch.setattr(Method, "train_step", poisoned)
    cfg = synthetic_cfg("method=grl", "trainer.steps=40", "trainer.checkpoint_every=20")
    with pytest.raises(NonFiniteLoss) as err:
        run(cfg, tmp_path)
    message = str(err.value)
    assert "\n" not in message and "loss/class=nan by step 30" in message
    assert f"last good checkpoint: {tmp_path / 'checkpoint.pt'}" in message
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"
    assert checkpoint.load(tmp_path)["step"] == 20


@pytest.mark.parametrize(
    "override,key",
    [
        ("optim.lr=0", "optim.lr=0"),
        ("optim.lr=-1e-3", "optim.lr=-0.001"),
        ("trainer.batch_size=0", "trainer.batch_size=0"),
        ("trainer.steps=abc", "trainer.steps='abc'"),
        ("trainer.steps=2.5", "trainer.steps=2.5"),
        ("device=tpu", "device='tpu'"),
        ("trainer.progress=maybe", "trainer.progress='maybe'"),
        ("target.transforms.0.threshold=1.5", "target.transforms[0].threshold=1.5"),
        ("method=adda method.pretrain_fraction=2", "method.pretrain_fraction=2"),
        ("optim.betas=[0.9,1.5]", "optim.betas=[0.9, 1.5]"),
        ("trainer.precision=fp16", "trainer.precision='fp16'"),
        ("trainer.compile=yes", "trainer.compile='yes'"),
        ("trainer.select=accuracy", "trainer.select='accuracy'"),
        ("trainer.validators=[im,magic]", "trainer.validators=['im', 'magic']"),
        ("trainer.validation_samples=0", "trainer.validation_samples=0"),
    ],
)
def test_bad_values_fail_before_training_with_one_line(synthetic_cfg, tmp_path, override, key):
    with pytest.raises(ConfigError) as err:
        run(synthetic_cfg(*override.split()), tmp_path)
    message = str(err.value)
    assert message.startswith(key) and "must be" in message and "\n" not in message
    assert not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    "target,override,message",
    [
        ("rotated", "target.transforms.0.degrees=[90,-90]", "rotate.degrees=[90, -90]: must be a number"),
        ("noisy", "target.transforms.0.std=-1", "gaussian_noise.std=-1: must lie in [0, inf]"),
        ("cluttered", "target.transforms.1.fill=plaid", "background.fill='plaid'; known: photo, solid"),
    ],
)
def test_bad_transform_parameters_fail_before_training(synthetic_cfg, tmp_path, target, override, message):
    with pytest.raises(ConfigError) as err:
        run(synthetic_cfg(f"target={target}", override), tmp_path)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_image_size_the_backbone_cannot_take(synthetic_cfg, tmp_path):
    with pytest.raises(ConfigError, match="seed_cnn with 4 blocks needs data.image_size >= 46"):
        run(synthetic_cfg("data.image_size=32", "backbone.blocks=4"), tmp_path)


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"not a checkpoint at all", "is corrupt or not an adda checkpoint"),
        (None, "is not an adda checkpoint"),  # a real torch file, but someone else's
    ],
)
def test_corrupt_or_foreign_checkpoint_is_one_line(tmp_path, content, expected):
    path = tmp_path / "checkpoint.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load(tmp_path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": 1, "x": Payload()}, tmp_path / "checkpoint.pt")
    with pytest.raises(checkpoint.CheckpointError, match="corrupt or not an adda checkpoint"):
        checkpoint.load(tmp_path)


def cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "adda.train", *SYNTHETIC, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_writes_checkpoint_and_prints_the_resume_command(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    proc = cli(
        "trainer.steps=100000", "trainer.checkpoint_every=20", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    wait_for(run_dir / "checkpoint.pt", proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"resume with: adda-train trainer.resume={run_dir}" in out + err
    state = json.loads((run_dir / "metrics.json").read_text())
    assert state["status"] == "interrupted" and checkpoint.load(run_dir)["step"] == state["step"]


def test_kill_9_then_resume_finishes_the_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = cli("trainer.steps=400", "trainer.checkpoint_every=20", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    wait_for(run_dir / "checkpoint.pt", proc)
    proc.kill()
    proc.communicate()
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    cut = checkpoint.load(run_dir)["step"]
    assert 0 < cut < 400
    resumed = cli(f"trainer.resume={run_dir}", f"hydra.run.dir={tmp_path / 'resume'}", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming {run_dir} at step {cut}" in out + err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["steps"] == 400


def test_corrupt_checkpoint_on_the_command_line_is_one_line_without_traceback(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x02garbage")
    proc = cli(f"trainer.resume={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in out + err
    errors = [line for line in (out + err).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "corrupt or not an adda checkpoint" in errors[0]


def test_errors_are_adda_errors():
    assert issubclass(checkpoint.CheckpointError, AddaError) and issubclass(NonFiniteLoss, AddaError)


def files_of(run_dir):
    """Every file of a run folder with its bytes, Hydra's own records aside."""
    return {
        p.relative_to(run_dir): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and ".hydra" not in p.parts and p.suffix != ".log"
    }


@pytest.fixture
def done_run(tmp_path):
    run_dir = tmp_path / "done"
    proc = cli("trainer.steps=20", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return run_dir


def test_resuming_with_overrides_that_change_the_saved_config_is_refused_naming_them(done_run, tmp_path):
    before = files_of(done_run)
    proc = cli(f"trainer.resume={done_run}", "method=adda", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    errors = [line for line in (out + err).splitlines() if "ERROR" in line]
    assert proc.returncode == 2 and len(errors) == 1, out + err
    assert "the overrides would change its saved config (method.name: 'grl' -> 'adda'" in errors[0]
    assert files_of(done_run) == before and not (tmp_path / "r").exists()


def test_resuming_a_done_run_says_so_and_changes_nothing(done_run, tmp_path):
    before = files_of(done_run)
    proc = cli(f"trainer.resume={done_run}", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"{done_run} is done (target_acc " in out + err and "nothing to do" in out + err
    assert files_of(done_run) == before


def test_a_folder_holding_another_config_is_refused_unless_asked_to_start_afresh(done_run, tmp_path):
    before = files_of(done_run)
    proc = cli("trainer.steps=20", "method=source_only", f"hydra.run.dir={done_run}", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and f"{done_run} holds a run of another config (method.name: " in out + err
    assert files_of(done_run) == before
    proc = cli("trainer.steps=20", "method=source_only", "trainer.resume=false", f"hydra.run.dir={done_run}")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads((done_run / "metrics.json").read_text())["method"] == "source_only"
    earlier = {p.name for p in before if p.parts[0] == "tb"}
    assert earlier and not earlier & {p.name for p in (done_run / "tb").rglob("events.*")}  # curves gone


def test_a_second_writer_of_a_live_runs_folder_fails_at_once_naming_it(tmp_path):
    run_dir = tmp_path / "run"
    first = cli(
        "trainer.steps=100000", "trainer.checkpoint_every=20", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    wait_for(run_dir / "checkpoint.pt", first)
    second = cli("trainer.steps=100000", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    out, err = second.communicate(timeout=300)
    errors = [line for line in (out + err).splitlines() if "ERROR" in line]
    assert second.returncode == 2 and len(errors) == 1, out + err
    assert f"{run_dir} is being written by pid {first.pid} on host" in errors[0]
    assert first.poll() is None  # the first writer goes on, its record untouched
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "interrupted"


def test_a_time_limit_stops_the_run_checkpointed_and_the_same_command_resumes_it(tmp_path):
    run_dir = tmp_path / "run"
    args = ("trainer.steps=300", "trainer.checkpoint_every=0", f"hydra.run.dir={run_dir}")
    proc = cli(*args, "trainer.time_limit=0.001", cwd=tmp_path)  # 0.06 s: out of time after step 1
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 124, err
    state = json.loads((run_dir / "metrics.json").read_text())
    assert state["status"] == "interrupted" and "time limit" in state["reason"]
    cut = checkpoint.load(run_dir)["step"]
    assert cut == state["step"] and 0 < cut < 300
    proc = cli(*args, cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resuming {run_dir} at step {cut} (it was interrupted)" in out + err
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "done"
