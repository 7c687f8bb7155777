"""Training-time augmentation of photographs: torchvision.transforms.v2, listed in YAML.

``data.augment: [{name: RandomResizedCrop, size: 224}, {name: RandomHorizontalFlip}]`` turns
each training image (uint8, ``data.load_size`` square) into one of ``data.image_size``.  The
transforms are torchvision's own, registered here under their torchvision names; each image's
randomness comes from a seed of its own, so a batch is the same whether one process or four
workers made it, and whether it was made before or after a resume.  Normalisation is not an
augmentation: images reach the network in [-1, 1] on every data path and each backbone applies
its own input statistics (ImageNet's for the pretrained ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torchvision.transforms import v2

from adda.errors import ConfigError
from adda.registry import Registry

AUGMENTATIONS = Registry("augmentation", "adda.data.augment")

for _name in (
    "CenterCrop",
    "ColorJitter",
    "GaussianBlur",
    "RandomAffine",
    "RandomCrop",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomVerticalFlip",
    "Resize",
):
    AUGMENTATIONS.register(_name)(getattr(v2, _name))


class Augment:
    """The ``data.augment`` chain, applied image by image under a seed per image."""

    def __init__(self, items: Iterable[Mapping[str, Any]] | None, at: str = "data.augment") -> None:
        self.items = [dict(item) for item in items or []]
        built = [self._build(item, f"{at}[{i}]") for i, item in enumerate(self.items)]
        self.chain = v2.Compose(built) if built else None

    @staticmethod
    def _build(item: Mapping[str, Any], at: str) -> Any:
        try:
            return AUGMENTATIONS.build(item, at=at)
        except (TypeError, ValueError) as err:  # a wrong argument, or torchvision's own checks
            raise ConfigError(f"{at}: {err}") from err

    def __bool__(self) -> bool:
        return bool(self.items)

    def one(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        """One uint8 (C, H, W) image through the chain; the seed alone decides its randomness
        (torchvision draws from the CPU's global generator, which is restored afterwards)."""
        if not self.items:
            return image
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.chain(image)

    def batch(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uint8 batch, each image with a seed drawn from ``generator``."""
        if not self.items:
            return images
        seeds = torch.randint(0, 2**62, (len(images),), generator=generator, device=generator.device)
        return torch.stack([self.one(img, s) for img, s in zip(images, seeds.tolist(), strict=True)])

    def check(self, load_size: int, image_size: int) -> None:
        """Fail before any work when the chain does not end at ``data.image_size``."""
        out = self.one(torch.zeros(3, load_size, load_size, dtype=torch.uint8), 0)
        if tuple(out.shape[-2:]) != (image_size, image_size):
            h, w = out.shape[-2:]
            if not self.items:
                raise ConfigError(
                    f"data.load_size={load_size} differs from data.image_size={image_size}: add a crop "
                    f"to data.augment (RandomResizedCrop or RandomCrop of size {image_size})"
                )
            raise ConfigError(
                f"data.augment turns data.load_size={load_size} images into {h}x{w}, not "
                f"data.image_size={image_size}: end it with a crop of size {image_size}"
            )

    def __repr__(self) -> str:
        return f"Augment({self.items})"
