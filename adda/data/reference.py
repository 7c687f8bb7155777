"""The conventional per-sample pipeline for the seed task, kept as a reference.

This is how digit-adaptation code is usually written: a ``Dataset`` whose ``__getitem__`` resizes
one digit and composites it onto one photo crop, batched by a ``DataLoader`` with worker
processes.  The framework's fast path (:mod:`adda.data.domain` with batched transforms on the
device) must give exactly these images for the same random draws (``tests/unit/test_fast_path.py``),
and ``scripts/bench_speed.py`` times the two against each other.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


def resize_one(digit: torch.Tensor, size: int) -> torch.Tensor:
    """One uint8 (C, h, w) image, bilinearly resized to (C, size, size) and rounded back to uint8."""
    big = F.interpolate(digit[None].float(), size=(size, size), mode="bilinear", align_corners=False)
    return big[0].round().clamp(0, 255).to(torch.uint8)


def mnistm_one(
    digit: torch.Tensor, photo: torch.Tensor, top: int, left: int, shift: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    """The seed's target image from one digit (1, S, S) in [0, 1] and one uint8 (H, W, 3) photo:
    binarize, crop at (top, left), shift each channel ``c <- (c + u) / 2``, invert under the digit."""
    size = digit.shape[-1]
    mask = (digit > threshold).to(digit.dtype)
    crop = photo[top : top + size, left : left + size].permute(2, 0, 1).float().div(255.0)
    crop = (crop + shift.view(3, 1, 1)) / 2
    return (crop - mask).abs()


class PerSampleDigits(Dataset):
    """MNIST-like digits prepared one at a time: the source images, or with ``photos`` the seed's
    MNIST-M-like target drawn with this process's torch random state (one per DataLoader worker)."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, size: int, photos: list[np.ndarray] | None = None
    ) -> None:
        self.images, self.labels, self.size = images, labels, size
        self.photos = [torch.from_numpy(np.array(p, dtype=np.uint8)) for p in photos] if photos else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = resize_one(self.images[i], self.size).float().div(255.0)
        if self.photos is not None:
            photo = self.photos[int(torch.randint(len(self.photos), ()))]
            top = int(torch.randint(photo.shape[0] - self.size + 1, ()))
            left = int(torch.randint(photo.shape[1] - self.size + 1, ()))
            x = mnistm_one(x, photo, top, left, torch.rand(3))
        return x.expand(3, -1, -1) * 2 - 1, self.labels[i]
