"""Per-pixel shifts: polarity, threshold, contrast, noise and occluders."""

from __future__ import annotations

import torch

from adda.checks import fraction, positive_int
from adda.data.transforms.base import Param, Transform, per_image
from adda.registry import TRANSFORMS


@TRANSFORMS.register("invert")
class Invert(Transform):
    """``1 - x``: white-on-black digits become black-on-white."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return 1.0 - x


@TRANSFORMS.register("binarize")
class Binarize(Transform):
    """Pixels above ``threshold`` become 1, the rest 0 (the seed's digit mask)."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = float(fraction("threshold", threshold))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return (x > self.threshold).to(x.dtype)


@TRANSFORMS.register("contrast")
class Contrast(Transform):
    """Scales each image about its own mean by ``factor`` (< 1 washes out, > 1 sharpens)."""

    def __init__(self, factor: float | list[float] = 0.5) -> None:
        self.factor = Param("contrast.factor", factor, low=0.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        f = per_image(self.factor.draw(len(x), generator)).to(x.dtype)
        return ((x - mean) * f + mean).clamp_(0.0, 1.0)


@TRANSFORMS.register("gaussian_noise")
class GaussianNoise(Transform):
    """Adds ``N(0, std^2)`` to every pixel and channel, clipped to [0, 1]."""

    def __init__(self, std: float | list[float] = 0.3) -> None:
        self.std = Param("gaussian_noise.std", std, low=0.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        std = per_image(self.std.draw(len(x), generator)).to(x.dtype)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + std * noise).clamp_(0.0, 1.0)


@TRANSFORMS.register("salt_pepper")
class SaltPepper(Transform):
    """Each pixel (all its channels) becomes black or white with probability ``p``, half each."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = float(fraction("p", p))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        u = torch.rand(b, 1, h, w, generator=generator, device=x.device, dtype=x.dtype)
        hit = u < self.p
        white = (u < self.p / 2).to(x.dtype)  # the lower half of the hits is salt
        return torch.where(hit, white, x)


@TRANSFORMS.register("occlude")
class Occlude(Transform):
    """Covers ``count`` random squares, each ``size`` of the image side, with grey level ``value``.

    A square may fall partly off the image, as a real occluder would.
    """

    def __init__(self, size: float | list[float] = 0.3, count: int = 1, value: float = 0.0) -> None:
        self.size = Param("occlude.size", size, low=0.0, high=1.0)
        self.count = positive_int("count", count)
        self.value = float(fraction("value", value))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        covered = torch.zeros(b, h, w, dtype=torch.bool, device=x.device)
        for _ in range(self.count):
            side = self.size.draw(b, generator)
            centre = torch.rand(b, 2, generator=generator, device=x.device)
            half_h, half_w = (side * h / 2).view(b, 1, 1), (side * w / 2).view(b, 1, 1)
            cy, cx = (centre[:, 0] * h).view(b, 1, 1), (centre[:, 1] * w).view(b, 1, 1)
            covered |= ((rows + 0.5 - cy).abs() < half_h) & ((cols + 0.5 - cx).abs() < half_w)
        return x.masked_fill(covered.unsqueeze(1), self.value)
