"""Checkpoints that resume exactly: models, optimisers, step, and every random state.

Everything is stored as tensors and plain Python values, so ``torch.load(weights_only=True)``
reads it without unpickling code.  Files are replaced atomically: a kill at any moment leaves
the previous good checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adda.data import BatchStream
from adda.errors import AddaError
from adda.methods import Method
from adda.runtime import save_checkpoint

FILE = "checkpoint.pt"
FORMAT = 1


class CheckpointError(AddaError):
    """A checkpoint is missing, corrupt, or not one of ours."""


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(
    run_dir: Path,
    method: Method,
    streams: dict[str, BatchStream],
    step: int,
    seconds: float,
    config: dict[str, Any],
) -> Path:
    path = run_dir / FILE
    save_checkpoint(
        path,
        {
            "format": FORMAT,
            "step": step,
            "seconds": seconds,
            "model": method.state_dict(),
            "optimizers": method.optimizer_state(),
            "streams": {name: s.state_dict() for name, s in streams.items()},
            "rng": rng_state(),
            "config": config,
        },
    )
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint, turning every way it can be wrong into one clear line."""
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: give the run folder that holds {FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors all mean "not a readable checkpoint"
        raise CheckpointError(
            f"{path} is corrupt or not an adda checkpoint (a weights-only load refused it: "
            f"{type(err).__name__}); resume from an earlier run folder or start afresh"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an adda checkpoint (format {FORMAT}); start afresh")
    return state


def restore(state: dict[str, Any], method: Method, streams: dict[str, BatchStream]) -> None:
    try:
        method.load_state_dict(state["model"])
        method.load_optimizer_state(state["optimizers"])
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint does not fit this model/method ({str(err).splitlines()[0][:160]})"
        ) from err
    for name, stream in streams.items():
        stream.load_state_dict(state["streams"][name])
    set_rng_state(state["rng"])
