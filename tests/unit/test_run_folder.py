"""One writer per run folder, config comparison for resumes, and SLURM time strings."""

import os
import subprocess
import sys
import time

import pytest

from adda import run_folder, scheduler
from adda.run_folder import RunFolderBusy, differences, exclusive, override_keys


def test_a_second_writer_is_refused_naming_the_first_and_let_in_once_it_is_gone(tmp_path):
    with exclusive(tmp_path):
        with pytest.raises(RunFolderBusy) as err:
            with exclusive(tmp_path):
                pass
        message = str(err.value)
        assert f"pid {os.getpid()} on host" in message and "\n" not in message
        assert "another folder" in message
    with exclusive(tmp_path):  # released on the way out
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from adda.run_folder import exclusive\n"
            f"with exclusive(__import__('pathlib').Path({str(tmp_path)!r})):\n"
            "    print('locked', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunFolderBusy, match=f"pid {holder.pid} "):
        with exclusive(tmp_path):
            pass
    holder.kill()
    holder.wait(timeout=30)
    assert (tmp_path / run_folder.LOCK).read_text().startswith(f"pid {holder.pid}")  # stale, still there
    with exclusive(tmp_path):
        assert (tmp_path / run_folder.LOCK).read_text().startswith(f"pid {os.getpid()}")


def test_differences_name_changed_keys_and_ignore_where_and_how_a_start_runs():
    saved = {
        "method": {"name": "grl", "weight": 1.0},
        "seed": 0,
        "data": {"root": "/a"},
        "trainer": {"resume": "auto"},
    }
    current = {
        "method": {"name": "adda", "pretrain_steps": 5},
        "seed": 0,
        "data": {"root": "/b"},
        "trainer": {"resume": "/x", "time_limit": 3},
    }
    changed = differences(saved, current)
    assert set(changed) == {"method.name", "method.weight", "method.pretrain_steps"}
    assert changed["method.name"] == ("grl", "adda")
    text = run_folder.describe(changed)
    assert text.startswith("method.name: 'grl' -> 'adda'") and "method.weight: 1.0 -> unset" in text


def test_override_keys_are_config_keys_and_groups():
    keys = override_keys(
        ["method=adda", "+trainer.extra=1", "~optim.betas", "hydra.run.dir=x", "debug/backbone=y"]
    )
    assert keys == ["method", "trainer.extra", "optim.betas", "debug.backbone"]


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("4:59", 299),
        ("1:02:03", 3723),
        ("2-00:00:01", 172801),
        ("UNLIMITED", None),
        ("NOT_SET", None),
        ("", None),
    ],
)
def test_slurm_time_strings(text, seconds):
    assert scheduler.slurm_seconds(text) == seconds


def test_time_limit_in_minutes_or_none_outside_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    now = time.time()
    assert scheduler.deadline(2.5, now) == now + 150
    assert scheduler.deadline(None, now) is None
    assert scheduler.deadline("auto", now) is None


def test_outside_a_submitit_job_nothing_requeues():
    assert scheduler.requeue_handler() is None
