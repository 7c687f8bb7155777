"""Shared fixtures: config composition and the real MNIST location."""

from __future__ import annotations

import os
import signal
import time
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


def wait_for(path: Path, proc, timeout: float = 120) -> None:
    """Until ``path`` exists, while the process ``proc`` that makes it runs (bounded)."""
    end = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.2)


SYNTHETIC = ("debug=synthetic",)  # adda/conf/debug/synthetic.yaml: tiny generated data on the CPU


def built_method(*overrides: str):
    """A method as ``adda-train`` builds it on the CPU for this config, with its batch streams."""
    import torch

    from adda.data import build_domains, load_splits
    from adda.runtime import seed_everything
    from adda.train import batch_streams, build_method

    cfg = compose_cfg(*overrides)
    splits = load_splits(cfg)
    seed_everything(cfg.seed)
    cpu = torch.device("cpu")
    method = build_method(cfg, cpu, len(splits[0].classes))
    return method, batch_streams(build_domains(cfg, cpu, splits), cfg, cpu)


def capturable_methods() -> list[str]:
    """The registered methods whose step a CUDA graph can replay (:func:`adda.graphs.cannot_capture`)."""
    from adda.graphs import cannot_capture
    from adda.registry import METHODS

    return [m for m in METHODS.names() if cannot_capture(built_method(*SYNTHETIC, f"method={m}")[0]) is None]


def signal_in_final_evaluation(monkeypatch, signum: int = signal.SIGINT) -> None:
    """Deliver a real signal to this process while a finished run assesses itself (its analysis),
    after its last training step; a signal that interrupts there ends the test with a failure."""
    from adda.analysis import Analysis

    original = Analysis.final

    def final(self, *args, **kwargs):
        try:
            os.kill(os.getpid(), signum)
            return original(self, *args, **kwargs)
        except KeyboardInterrupt:
            pytest.fail("the stop signal interrupted the final evaluation instead of waiting for it")

    monkeypatch.setattr(Analysis, "final", final)


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


def write_image_folder(
    root: Path, classes: list[str], per_class: int, size: int = 20, seed: int = 0, suffix: str = ".png"
) -> Path:
    """``root/<class>/<n><suffix>``: class k draws a bright bar at its own place over noise, in
    colour; a CNN tells the classes apart in a few dozen steps.  ``.bmp`` goes through PIL."""
    import torch
    from PIL import Image
    from torchvision.io import write_jpeg, write_png

    gen = torch.Generator().manual_seed(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            img = torch.rand(3, size, size, generator=gen) * 0.4
            pos = 2 + (k * 3) % (size - 4)
            if (k // max(1, (size - 4) // 3)) % 2:
                img[:, pos : pos + 2, :] = 1.0
            else:
                img[:, :, pos : pos + 2] = 1.0
            img[k % 3] *= 0.5  # a colour cast per class as well
            pixels = (img * 255).round().to(torch.uint8)
            path = root / name / f"{n:04d}{suffix}"
            if suffix == ".png":
                write_png(pixels, str(path))
            elif suffix in (".jpg", ".jpeg"):
                write_jpeg(pixels, str(path), quality=95)
            else:
                Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(path)
    return root
