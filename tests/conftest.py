"""Shared fixtures: config composition and the real MNIST location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from adda.config import CONF_DIR

REPO = Path(__file__).resolve().parent.parent


def compose_cfg(*overrides: str) -> DictConfig:
    """The config ``adda-train`` would build from these command-line overrides."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=False)


SYNTHETIC = ("debug=synthetic",)  # adda/conf/debug/synthetic.yaml: tiny generated data on the CPU


@pytest.fixture
def synthetic_cfg():
    """Compose a config on the tiny generated dataset (no files needed)."""
    return lambda *extra: compose_cfg(*SYNTHETIC, *extra)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """MNIST from $ADDA_DATA (scripts/test.sh sets it and fetches MNIST there if missing)."""
    shared = REPO.parent / "shared" / "data"
    default = shared if (shared / "MNIST").is_dir() else REPO / "data"  # where scripts/run.sh puts it
    root = Path(os.environ.get("ADDA_DATA", default))
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        message = f"MNIST not found under {root}: set ADDA_DATA or run scripts/fetch_mnist.py"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root.resolve()
