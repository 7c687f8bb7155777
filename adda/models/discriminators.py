"""Domain discriminators: one logit per sample, positive for source, negative for target."""

from __future__ import annotations

import math

import torch
from torch import nn

from adda.checks import check, is_number, positive_int, positive_ints
from adda.errors import ConfigError
from adda.models.backbones import conv_block, conv_out_size
from adda.registry import DISCRIMINATORS


class Discriminator(nn.Module):
    """Reads the backbone tap named ``tap`` and returns domain logits of shape (B,)."""

    tap: str
    net: nn.Module

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


@DISCRIMINATORS.register("mlp")
class MLPDiscriminator(Discriminator):
    """Fully connected ReLU layers on the flattened tap (ADDA's 500-500-1 by default); ``dropout``
    after each (DANN's domain classifier on Office: 1024-1024-1 with dropout 0.5)."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        tap: str = "features",
        hidden: list[int] = (500, 500),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.tap = tap
        hidden = positive_ints("hidden", hidden)
        dropout = check("dropout", dropout, lambda p: is_number(p) and 0 <= p < 1, "a number in [0, 1)")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(in_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            layers += [nn.Dropout(dropout)] if dropout else []
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)


@DISCRIMINATORS.register("seed_conv")
class SeedConvDiscriminator(Discriminator):
    """The seed's discriminator: conv blocks on the first pooled maps, dense ``hidden``, logit."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        tap: str = "pool1",
        width: int = 32,
        blocks: int = 3,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        width, blocks, hidden = (
            positive_int("width", width),
            positive_int("blocks", blocks),
            positive_int("hidden", hidden),
        )
        if len(in_shape) != 3:
            raise ConfigError(
                f"discriminator seed_conv needs an image-shaped tap (C, H, W); tap {tap!r} has shape "
                f"{in_shape}: use discriminator.tap=pool1 or discriminator=mlp"
            )
        side = conv_out_size(in_shape[-1], blocks)
        if side < 1:
            raise ConfigError(
                f"discriminator seed_conv: tap {tap!r} of shape {in_shape} is too small for {blocks} blocks: "
                f"use fewer discriminator.blocks, a larger data.image_size, or discriminator=mlp"
            )
        c = in_shape[0]
        self.tap = tap
        self.net = nn.Sequential(
            *(conv_block(c if i == 0 else width, width) for i in range(blocks)),
            nn.Flatten(),
            nn.Linear(width * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )
