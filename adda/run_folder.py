"""A run folder's one writer, and what a start finds in it.

``trainer.resume`` says how a start treats the folder it trains into:

- ``auto`` (the default): a folder holding a checkpoint of the same config continues from it, a
  finished one is left as it is (so re-running a sweep into its folder skips the runs that are
  done, resumes the interrupted ones and reruns the failed ones), an empty one starts afresh,
  and one holding a run of another config is refused, so no result is overwritten by accident;
- ``false``: start afresh, clearing what an earlier run left there;
- a run folder: continue that run with its saved config.  Command-line overrides that would
  change the saved config are refused, naming them; a finished run is reported and left alone.

One process at a time writes a run folder: :func:`exclusive` holds an ``flock`` on its lock
file, which the kernel releases when the process dies, so a stale lock never blocks.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adda import checkpoint
from adda.errors import AddaError, ConfigError
from adda.record import RunRecord

log = logging.getLogger(__name__)
LOCK = ".lock"
# Keys that may differ between the starts of one run: where the data is, how progress shows,
# how the start was asked for, and how long this attempt may take.
UNCOMPARED = (
    "data.root",
    "device",
    "data.workers",
    "trainer.progress",
    "trainer.resume",
    "trainer.time_limit",
)
# What a run writes, cleared when a start begins afresh in a folder an earlier run used.
RUN_OUTPUTS = ("tb", checkpoint.FILE, "selected.pt", "selected.json", "analysis.json")


class OthersRunFolder(AddaError):
    """The folder belongs to another run (a live writer's, or a finished run of another config)."""

    recorded = True  # so the runner writes nothing into it and removes nothing from it


class RunFolderBusy(OthersRunFolder):
    """Another live process writes this folder."""


@contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Hold the folder's lock while inside; fail at once, naming the holder, when another has it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunFolderBusy(
            f"{run_dir} is being written by {holder} (lock {path}); wait for that run to end, or "
            f"train into another folder (hydra.run.dir=...)"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)  # releases the lock


@dataclass
class Start:
    """How a run begins: its config and folder, the checkpoint it continues (``None``: from step
    0), or ``done``, the finished run's metrics, when there is nothing left to do."""

    cfg: DictConfig
    run_dir: Path
    state: dict[str, Any] | None = None
    done: dict[str, Any] | None = None


def folder(cfg: DictConfig, out_dir: Path) -> Path:
    """The folder this start writes: the one ``trainer.resume`` names, else its own."""
    resume = cfg.trainer.get("resume")
    if resume in (None, False, "auto"):
        return out_dir
    path = Path(str(resume)).expanduser()
    return path.parent if path.name == checkpoint.FILE else path


def plan(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = ()) -> Start:
    """What this start does in ``run_dir`` (see the module's docstring); called holding its lock."""
    resume = cfg.trainer.get("resume")
    if resume in (None, False):
        return afresh(cfg, run_dir)
    if resume == "auto":
        return auto(cfg, run_dir)
    return named(cfg, run_dir, overrides)


def afresh(cfg: DictConfig, run_dir: Path) -> Start:
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return Start(cfg, run_dir)


def auto(cfg: DictConfig, run_dir: Path) -> Start:
    record = RunRecord(run_dir, None).read() or {}
    status = record.get("status")
    state = checkpoint.load(run_dir) if (run_dir / checkpoint.FILE).is_file() else None
    if state is not None:
        changed = differences(state["config"], plain(cfg))
        if changed:
            raise OthersRunFolder(
                f"{run_dir} holds a run of another config ({describe(changed)}): train into a new folder "
                f"(hydra.run.dir=..., hydra.sweep.dir=...) or give trainer.resume=false to start afresh in it"
            )
    if status == "done":  # (without a checkpoint too: its results stand)
        return Start(cfg, run_dir, done=record)
    if status == "failed":
        log.info("rerunning %s from the start: it failed (%s)", run_dir, record.get("error"))
        return afresh(cfg, run_dir)
    if state is None:
        if status:
            log.info("starting %s from step 0: its earlier attempt (%s) left no checkpoint", run_dir, status)
        return afresh(cfg, run_dir)
    log.info("resuming %s at step %d (it was %s)", run_dir, state["step"], status or "cut short")
    return Start(cfg, run_dir, state)


def named(cfg: DictConfig, run_dir: Path, overrides: Sequence[str]) -> Start:
    state = checkpoint.load(run_dir)
    saved = OmegaConf.create(state["config"])
    changed = {
        key: values
        for key, values in differences(state["config"], plain(cfg)).items()
        if within(key, override_keys(overrides))
    }
    if changed:
        raise ConfigError(
            f"trainer.resume={run_dir}: the overrides would change its saved config ({describe(changed)}); "
            f"resume without them, or start a new run with them"
        )
    record = RunRecord(run_dir, None).read() or {}
    if record.get("status") == "done":
        return Start(saved, run_dir, done=record)
    log.info("resuming %s at step %d (its saved config is used)", run_dir, state["step"])
    return Start(saved, run_dir, state)


def override_keys(overrides: Sequence[str]) -> list[str]:
    """The config keys a command line sets (a group choice such as ``method=adda`` sets ``method``)."""
    keys = (item.split("=", 1)[0].lstrip("+~") for item in overrides)
    return [k.replace("/", ".") for k in keys if not k.startswith(("hydra.", "hydra/"))]


def plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``."""
    if not isinstance(tree, dict) or not tree:
        return {prefix[:-1]: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def within(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def differences(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``key: (saved, current)`` for every setting that differs, the ones in :data:`UNCOMPARED` aside."""
    old, new = flatten(saved), flatten(current)
    missing = object()
    return {
        key: (old.get(key, missing), new.get(key, missing))
        for key in sorted(old.keys() | new.keys())
        if not within(key, UNCOMPARED) and old.get(key, missing) != new.get(key, missing)
    }


def describe(changed: dict[str, tuple[Any, Any]], limit: int = 4) -> str:
    def shown(value: Any) -> str:
        return "unset" if not isinstance(value, (str, int, float, bool, list, type(None))) else repr(value)

    names_first = sorted(changed, key=lambda k: not k.endswith(".name"))  # method.name says most
    items = [f"{k}: {shown(changed[k][0])} -> {shown(changed[k][1])}" for k in names_first[:limit]]
    more = len(changed) - limit
    return "; ".join(items) + (f"; and {more} more" if more > 0 else "")
