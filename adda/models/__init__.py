"""Backbones (encoder + classifier head) and domain discriminators, one module per kind or family."""

from adda.models.backbones import Backbone
from adda.models.discriminators import Discriminator

__all__ = ["Backbone", "Discriminator"]
