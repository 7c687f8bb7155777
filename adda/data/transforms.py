"""Target-domain transforms: small batched ops, one job each, listed in YAML in order.

Each takes a float batch ``(B, C, H, W)`` in [0, 1] on any device and an explicit
``torch.Generator`` on that device, so the same generator state gives the same images.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adda.errors import ConfigError, DataError
from adda.registry import TRANSFORMS


class Transform:
    """A batched image op; subclasses override ``__call__``."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Applies a list of transforms in order (an empty list is the identity)."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    @classmethod
    def from_config(cls, items: Iterable[Mapping[str, Any]] | None) -> Compose:
        return cls(TRANSFORMS.build(item) for item in (items or []))


@TRANSFORMS.register("binarize")
class Binarize(Transform):
    """Pixels above ``threshold`` become 1, the rest 0 (the seed's digit mask)."""

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"binarize.threshold={threshold}: must lie in [0, 1]")
        self.threshold = threshold

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return (x > self.threshold).to(x.dtype)


def load_photos(photos: str, min_size: int) -> list[np.ndarray]:
    """RGB uint8 photos: scikit-learn's two samples (``sklearn``) or every image in a folder."""
    if photos == "sklearn":
        from sklearn.datasets import load_sample_images

        images = list(load_sample_images().images)
    else:
        from PIL import Image

        folder = Path(photos).expanduser()
        files = (
            sorted(p for p in folder.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"})
            if folder.is_dir()
            else []
        )
        if not files:
            raise DataError(
                f"background.photos={photos!r}: no .jpg/.png images found; give a folder of "
                f"photos or 'sklearn' for scikit-learn's sample photos"
            )
        images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    small = [i for i, img in enumerate(images) if min(img.shape[:2]) < min_size]
    if small:
        raise DataError(f"background photos {small} are smaller than {min_size} px; remove them")
    return images


class PhotoBank:
    """Photos padded into one uint8 tensor so a whole batch of crops is one gather."""

    def __init__(self, images: list[np.ndarray]) -> None:
        h = max(img.shape[0] for img in images)
        w = max(img.shape[1] for img in images)
        bank = torch.zeros(len(images), h, w, 3, dtype=torch.uint8)
        for i, img in enumerate(images):
            bank[i, : img.shape[0], : img.shape[1]] = torch.from_numpy(np.array(img, dtype=np.uint8))
        self.bank = bank
        self.sizes = torch.tensor([img.shape[:2] for img in images])
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def crops(self, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random ``size`` x ``size`` crops as float (n, 3, size, size) in [0, 1]."""
        device = generator.device
        if device not in self._on:
            self._on[device] = (self.bank.to(device), self.sizes.to(device))
        bank, sizes = self._on[device]
        k = torch.randint(0, len(bank), (n,), generator=generator, device=device)
        room = (sizes[k] - size + 1).float()  # valid top-left corners per photo, (n, 2)
        corner = (torch.rand(n, 2, generator=generator, device=device) * room).long()
        offs = torch.arange(size, device=device)
        rows = (corner[:, 0:1] + offs)[:, :, None]
        cols = (corner[:, 1:2] + offs)[:, None, :]
        crop = bank[k[:, None, None], rows, cols]  # (n, size, size, 3)
        return crop.permute(0, 3, 1, 2).float().div_(255.0)


@TRANSFORMS.register("background")
class Background(Transform):
    """Composites the digit onto a random photo crop (the MNIST-M recipe, Ganin et al. 2016).

    Each crop's channels are shifted ``c <- (c + u) / 2``, ``u ~ U(0, 1)`` per channel and sample
    (``color_shift``).  ``blend="difference"`` gives ``|photo - digit|``: for a binary digit the
    photo's colour is inverted exactly where the digit is, which is the seed's target domain.
    ``blend="over"`` paints a white digit over the photo, using the digit as alpha.
    """

    BLENDS = ("difference", "over")

    def __init__(self, photos: str = "sklearn", color_shift: bool = True, blend: str = "difference") -> None:
        if blend not in self.BLENDS:
            raise ConfigError(f"background.blend={blend!r}; known: {', '.join(self.BLENDS)}")
        self.photos, self.color_shift, self.blend = photos, color_shift, blend
        self._bank: PhotoBank | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        size = x.shape[-1]
        if self._bank is None:
            self._bank = PhotoBank(load_photos(self.photos, size))
        photo = self._bank.crops(len(x), size, generator).to(x.dtype)
        if self.color_shift:
            u = torch.rand(len(x), 3, 1, 1, generator=generator, device=x.device, dtype=x.dtype)
            photo = (photo + u) / 2
        if self.blend == "difference":
            return (photo - x).abs()
        return x + (1 - x) * photo
