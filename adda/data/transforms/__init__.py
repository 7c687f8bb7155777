"""Target-domain transforms: small batched ops, one job each, listed in YAML in order.

The registry finds every module of this package; the names below are for imports only.
"""

from adda.data.transforms.base import Compose, Param, Transform
from adda.data.transforms.colour import Background, Color
from adda.data.transforms.geometry import Affine, Blur, Elastic, Rotate
from adda.data.transforms.pixel import Binarize, Contrast, GaussianNoise, Invert, Occlude, SaltPepper

__all__ = [
    "Affine",
    "Background",
    "Binarize",
    "Blur",
    "Color",
    "Compose",
    "Contrast",
    "Elastic",
    "GaussianNoise",
    "Invert",
    "Occlude",
    "Param",
    "Rotate",
    "SaltPepper",
    "Transform",
]
