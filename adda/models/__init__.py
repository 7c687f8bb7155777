"""Backbones (encoder + classifier head) and domain discriminators."""

from adda.models import backbones, discriminators  # noqa: F401  (register the parts)
from adda.models.backbones import Backbone
from adda.models.discriminators import Discriminator

__all__ = ["Backbone", "Discriminator"]
