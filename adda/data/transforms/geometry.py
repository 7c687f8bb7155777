"""Geometric shifts: affine warps, rotation, elastic distortion and blur, all batched.

Warps resample with ``grid_sample`` (bilinear); pixels that come from outside the image take
the grey level ``fill``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from adda.checks import fraction
from adda.data.transforms.base import Param, Transform
from adda.registry import TRANSFORMS


def warp(x: torch.Tensor, grid: torch.Tensor, fill: float) -> torch.Tensor:
    """Samples ``x`` at ``grid`` (B, H, W, 2) in normalised coordinates; outside reads ``fill``."""
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out + fill).clamp_(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with one ``sigma`` (in pixels) per image, as one grouped conv.

    ``max_sigma`` bounds ``sigma`` and sets the kernel's radius without reading the device.
    """
    b, c, h, w = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x.dtype).clamp_min(1e-3).view(b, 1)
    kernel = torch.exp(-0.5 * (offsets / s) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (b*c, k)
    flat = x.reshape(1, b * c, h, w)
    flat = F.pad(flat, (radius, radius, 0, 0), mode="replicate")
    flat = F.conv2d(flat, kernel.view(b * c, 1, 1, -1), groups=b * c)
    flat = F.pad(flat, (0, 0, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel.view(b * c, 1, -1, 1), groups=b * c)
    return flat.view(b, c, h, w)


@TRANSFORMS.register("affine")
class Affine(Transform):
    """Rotates by ``degrees``, scales by ``scale`` and shifts by ``translate`` (fraction of the side).

    Each parameter is a number or a ``[low, high]`` range drawn per image (the shift per axis).
    Positive angles turn the digit counter-clockwise as displayed.
    """

    key = "affine"  # the config name in error messages

    def __init__(
        self,
        degrees: float | list[float] = 0.0,
        scale: float | list[float] = (0.8, 1.1),
        translate: float | list[float] = (-0.1, 0.1),
        fill: float = 0.0,
    ) -> None:
        self.degrees = Param(f"{self.key}.degrees", degrees)
        self.scale = Param(f"{self.key}.scale", scale, low=1e-3)
        self.translate = Param(f"{self.key}.translate", translate, low=-1.0, high=1.0)
        self.fill = float(fraction("fill", fill))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b = len(x)
        angle = -torch.deg2rad(self.degrees.draw(b, generator))  # image rows grow downwards
        scale = self.scale.draw(b, generator)
        shift = torch.stack([self.translate.draw(b, generator), self.translate.draw(b, generator)], 1) * 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # output -> input map: undo the shift, then the rotation and the scale
        inverse = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # (b, 2, 2)
        offset = -(inverse @ shift.unsqueeze(-1))
        theta = torch.cat([inverse, offset], dim=2).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return warp(x, grid, self.fill)


@TRANSFORMS.register("rotate")
class Rotate(Affine):
    """Rotates by ``degrees`` (a fixed angle, or ``[low, high]`` drawn per image), counter-clockwise."""

    key = "rotate"

    def __init__(self, degrees: float | list[float] = 45.0, fill: float = 0.0) -> None:
        super().__init__(degrees=degrees, scale=1.0, translate=0.0, fill=fill)


@TRANSFORMS.register("elastic")
class Elastic(Transform):
    """Elastic distortion after Simard et al. (2003): a uniform random displacement field,
    smoothed by a Gaussian of ``sigma`` pixels, moves every pixel.

    Unlike the paper's raw scale factor, ``alpha`` is the largest displacement in pixels, so its
    meaning does not depend on ``sigma`` or the image size.
    """

    def __init__(self, alpha: float = 8.0, sigma: float = 3.0, fill: float = 0.0) -> None:
        self.alpha = Param("elastic.alpha", alpha, low=0.0)
        self.sigma = Param("elastic.sigma", sigma, low=0.1)
        self.fill = float(fraction("fill", fill))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        field = torch.rand(b, 2, h, w, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
        field = gaussian_blur(field, self.sigma.draw(b, generator), self.sigma.high)
        field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)  # peak 1 px
        alpha = self.alpha.draw(b, generator).to(x.dtype).view(b, 1, 1, 1)
        size = torch.tensor([w, h], device=x.device, dtype=x.dtype).view(1, 2, 1, 1)
        shift = (field * alpha * 2 / size).permute(0, 2, 3, 1)  # pixels -> normalised coordinates
        identity = torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(b, 2, 3)
        grid = F.affine_grid(identity, list(x.shape), align_corners=False) + shift
        return warp(x, grid, self.fill)


@TRANSFORMS.register("blur")
class Blur(Transform):
    """Gaussian blur of ``sigma`` pixels (a number, or ``[low, high]`` drawn per image)."""

    def __init__(self, sigma: float | list[float] = 1.5) -> None:
        self.sigma = Param("blur.sigma", sigma, low=0.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return gaussian_blur(x, self.sigma.draw(len(x), generator), self.sigma.high).clamp_(0.0, 1.0)
