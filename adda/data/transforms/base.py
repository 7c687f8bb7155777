"""The transform interface, the chain that applies a YAML list in order, and per-image parameters.

Every transform takes a float batch ``(B, C, H, W)`` in [0, 1] on any device and an explicit
``torch.Generator`` on that device, and returns a batch in [0, 1]: the same generator state gives
the same images, whatever the batch's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from adda.errors import ConfigError
from adda.registry import TRANSFORMS


class Transform:
    """A batched image op; subclasses override ``__call__``.

    ``__call__`` returns a new tensor or its own input, never one it keeps (a cache, a buffer):
    the caller edits the result in place.
    """

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
    def from_config(cls, items: Iterable[Mapping[str, Any]] | None, at: str = "transforms") -> Compose:
        """``at``: where the list sits in the config, so a bad argument names its full key."""
        return cls(TRANSFORMS.build(item, at=f"{at}[{i}]") for i, item in enumerate(items or []))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Param:
    """A transform's parameter: one number for every image, or ``[low, high]`` drawn per image.

    ``rotate: {degrees: 45}`` turns every digit by 45 degrees; ``{degrees: [-45, 45]}`` draws
    each image's angle uniformly from that range.
    """

    def __init__(self, key: str, value: Any, low: float = -float("inf"), high: float = float("inf")) -> None:
        pair = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value, value]
        if len(pair) != 2 or not all(_is_number(v) for v in pair) or pair[0] > pair[1]:
            raise ConfigError(f"{key}={value!r}: must be a number or a [low, high] pair with low <= high")
        if pair[0] < low or pair[1] > high:
            raise ConfigError(f"{key}={value!r}: must lie in [{low:g}, {high:g}]")
        self.value = value
        self.low, self.high = float(pair[0]), float(pair[1])

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` values on the generator's device; a fixed value consumes no randomness."""
        if self.fixed:
            return torch.full((n,), self.low, device=generator.device)
        return self.low + (self.high - self.low) * torch.rand(n, generator=generator, device=generator.device)

    def __repr__(self) -> str:
        return repr(self.value)


def per_image(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1), to scale or shift a whole image by its own value."""
    return values.view(-1, 1, 1, 1)
