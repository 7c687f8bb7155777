"""What a batch scheduler tells a run, and how an interrupted run goes back to it.

A SLURM job has a time limit: ``trainer.time_limit=auto`` reads what is left of it (``squeue``)
so that the run stops cleanly, checkpointed, before SLURM kills it.  submitit, which runs each
job of ``hydra/launcher=slurm``, requeues a job on SIGUSR2 (SLURM sends it before the time limit
and at preemption) through a handler it installs before the run starts: a run that stopped for
that signal or for its time limit hands over to that handler once its checkpoint is written,
and the requeued job resumes from its own folder (``trainer.resume=auto``).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
# Time kept back from a SLURM job's limit for the final evaluation and writes (at most a quarter
# of what is left).
MARGIN_S = 120.0
SLURM_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def slurm_seconds(text: str) -> float | None:
    """``squeue``'s ``[days-][hours:]minutes:seconds`` in seconds; ``None`` for UNLIMITED and the like."""
    match = SLURM_TIME.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def slurm_seconds_left(job_id: str) -> float | None:
    """What is left of the job's time limit, asked of SLURM (bounded: ``None`` if it does not say)."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return slurm_seconds(out.stdout) if out.returncode == 0 else None


def deadline(time_limit: Any, now: float | None = None) -> float | None:
    """The ``time.time()`` at which training stops, from ``trainer.time_limit`` (minutes for this
    attempt; ``auto``: the SLURM job's limit less :data:`MARGIN_S`, none outside SLURM)."""
    now = time.time() if now is None else now
    if time_limit in (None, False):
        return None
    if time_limit != "auto":
        return now + float(time_limit) * 60
    job = os.environ.get("SLURM_JOB_ID")
    left = slurm_seconds_left(job) if job else None
    if left is None:
        return None
    log.info(
        "SLURM job %s has %.0f s left: training stops, checkpointed, %.0f s before",
        job,
        left,
        min(MARGIN_S, left / 4),
    )
    return now + left - min(MARGIN_S, left / 4)


def requeue_handler() -> Callable[[int, Any], None] | None:
    """submitit's SIGUSR2 handler (it checkpoints the job's call, requeues it and exits), when
    this process runs as a submitit job; else ``None``."""
    handler = signal.getsignal(signal.SIGUSR2)
    owner = getattr(handler, "__self__", None)
    return handler if owner is not None and type(owner).__module__.startswith("submitit.") else None  # type: ignore[return-value]
