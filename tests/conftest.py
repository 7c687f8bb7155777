"""Shared fixtures: config composition and the real MNIST location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from adda.train import CONF_DIR

REPO = Path(__file__).resolve().parent.parent


def compose_cfg(*overrides: str) -> DictConfig:
    """The config ``adda-train`` would build from these command-line overrides."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=False)


SYNTHETIC = (
    "source=synthetic",
    "data.image_size=32",
    "backbone.blocks=2",
    "trainer.batch_size=16",
    "trainer.log_every=10",
    "trainer.eval_every=0",
    "trainer.progress=false",
    "trainer.preview_images=8",
    "device=cpu",
)


@pytest.fixture
def synthetic_cfg():
    """Compose a config on the tiny generated dataset (no files needed)."""
    return lambda *extra: compose_cfg(*SYNTHETIC, *extra)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """MNIST from $ADDA_DATA (CI sets it); without it the real-data tests cannot run."""
    root = Path(os.environ.get("ADDA_DATA", REPO.parent / "shared" / "data"))
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        message = f"MNIST not found under {root}: set ADDA_DATA or run scripts/fetch_mnist.py"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root.resolve()
