"""``adda-rescore DIR... --validators classami,mixval``: score finished runs' final models with
validators they did not train with, so a validator added later is judged on earlier sweeps
without training them again (Musgrave et al. 2022 judged theirs on saved checkpoints).

Each run's last checkpoint is rebuilt from the config it saved and scored on the run's own fixed
evaluation sets.  The validators the run already has, and its target accuracy, are scored again
first and must agree with its record: a checkpoint that is not the run's final model, or data
that changed, is refused rather than mixed in.  The new scores join ``metrics.json``'s
``validators`` and are named under ``rescored``; nothing else in the run changes.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from adda import checkpoint, run_folder
from adda.data.domain import build_domains, load_splits
from adda.errors import AddaError, ConfigError
from adda.record import RunRecord
from adda.registry import VALIDATORS
from adda.report import pooled, read_runs
from adda.runtime import resolve_device, seed_everything
from adda.train import build_method
from adda.validators import score_model

log = logging.getLogger("adda.rescore")
TOLERANCE = 1e-4  # relative: another thread count rounds the same sums a little differently


class RecordMismatch(AddaError):
    """Scored again, the checkpoint does not give what the run recorded."""


def rescore(run_dir: Path, names: list[str], data_root: str | None, device: str) -> dict[str, float]:
    """The ``names`` validators' scores of the finished run in ``run_dir``, written to its record."""
    record = RunRecord(run_dir, None)
    with run_folder.exclusive(run_dir):
        metrics = record.read() or {}
        if metrics.get("status") != "done":
            status = metrics.get("status", "not started")
            raise AddaError(f"{run_dir} is {status}: only a finished run is rescored")
        state = checkpoint.load(run_dir)
        if state["step"] != metrics["steps"]:
            raise RecordMismatch(
                f"{run_dir}: its checkpoint is of step {state['step']}, the run ended at step "
                f"{metrics['steps']}; not rescored"
            )
        cfg = OmegaConf.create(state["config"])
        if data_root:
            cfg.data.root = data_root
        splits = load_splits(cfg)
        seed_everything(cfg.seed)
        method = build_method(cfg, resolve_device(device), len(splits[0].classes))
        method.load_state_dict(state["model"])
        data = build_domains(cfg, next(method.parameters()).device, splits)
        recorded = metrics.get("validators", {})
        trainer = cfg.trainer
        scores, valid, _ = score_model(
            method,
            data.evals,
            list(dict.fromkeys([*recorded, *names])),
            trainer.eval_batch_size,
            trainer.precision,
        )
        then = {**recorded, "target_acc": metrics["target_acc"]}
        check_against_record(then, {**valid, "target_acc": scores["target_test_acc"]}, run_dir)
        new = {name: valid[name] for name in names if name not in recorded}
        if new:
            record.add_validators(new)
        return new


def check_against_record(recorded: dict[str, Any], now: dict[str, float], run_dir: Path) -> None:
    for name, then in recorded.items():
        if not math.isclose(now[name], then, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            raise RecordMismatch(
                f"{run_dir}: {name} is {now[name]:.6f} scored again, {then:.6f} in its record (the "
                "checkpoint is not its final model, or the data or device differ: give --device and "
                "--data-root as it trained); not rescored"
            )


def known(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in VALIDATORS.names()]
    if unknown or not names:
        raise ConfigError(
            f"--validators {','.join(names)}: {', '.join(unknown) or 'none given'} is not a "
            f"validator; choose from {', '.join(VALIDATORS.names())}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score the finished runs under each DIR with validators they did not train with."
    )
    parser.add_argument("dir", type=Path, nargs="+")
    parser.add_argument("--validators", required=True, help="comma-separated names, e.g. classami,mixval")
    parser.add_argument("--data-root", help="where the data is now, if not where the runs trained")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        names = known([n for n in args.validators.split(",") if n])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    runs = [run["dir"] for run in pooled([read_runs(root) for root in args.dir])]  # each run once
    if not runs:
        print(f"error: no run folders (with .hydra/) under {', '.join(map(str, args.dir))}", file=sys.stderr)
        return 2
    failed = 0
    for i, run_dir in enumerate(runs, 1):
        try:
            new = rescore(run_dir, names, args.data_root, args.device)
        except AddaError as err:  # one run's problem; the others are still scored
            failed += 1
            log.error("[%d/%d] error: %s", i, len(runs), err)
            continue
        added = "  ".join(f"{k} {v:.4f}" for k, v in new.items()) or "has them all already"
        log.info("[%d/%d] %s: %s", i, len(runs), run_dir.name, added)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
