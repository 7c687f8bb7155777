"""Backbones: an encoder that exposes named feature taps, and a classifier head.

Discriminators read one tap (``features``, the encoder's output, ``conv``, the last convolutional
maps, or an earlier one such as ``pool1``), so the seed's discriminator on the first pooled maps
and an MLP on the final features plug into the same backbone.  Images arrive in [-1, 1]; a backbone
that wants other statistics (ImageNet's, for pretrained models) converts them as its first op.
A constructor takes ``image_size`` (from ``data.image_size``) and ``weights``: a path to a
``state_dict`` saved from this backbone (or from a trunk, see :mod:`adda.models.pretrained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from adda.checks import check, non_negative_int, positive_int
from adda.errors import ConfigError, DataError
from adda.registry import BACKBONES


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 valid convolution, ReLU, 2x2 max-pool: the seed network's unit.

    ReLU runs after the pool: ``relu(maxpool(x)) == maxpool(relu(x))`` (ReLU is monotone), and
    on a quarter of the values it is cheaper.
    """
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.MaxPool2d(2), nn.ReLU(inplace=True))


def conv_out_size(size: int, blocks: int) -> int:
    for _ in range(blocks):
        size = (size - 2) // 2
    return size


def bottleneck_layer(width_in: int, width: int) -> tuple[nn.Module, int]:
    """The bottleneck of the DANN/CDAN/MDD ResNet recipes: Linear, BatchNorm, ReLU (0: none).

    Its BatchNorm keeps the features at the scale its affine weights set, which the encoder can
    only move at the optimiser's pace: losses that an encoder can lower by scaling its features
    up (MDD's disparity, AFN's norm) stay bounded behind it.
    """
    if width == 0:
        return nn.Identity(), width_in
    return nn.Sequential(nn.Linear(width_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)), width


def instance_normalized(encoder: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Each image's channels shifted and scaled to mean 0, std 1: a domain that differs by
    per-image colour, brightness or contrast (digits on photos) looks like the source before any
    weight sees it.  The input layer of DIRT-T's digit network (Shu et al. 2018, their ``inorm``);
    no affine weights, since the first convolution can learn any."""
    return (F.instance_norm(args[0]), *args[1:])


def normalize_input(backbone: Backbone, kind: str | None) -> Backbone:
    """Put ``kind`` of input normalisation (``backbone.input_norm``) in front of the encoder.

    A forward pre-hook rather than a wrapper module: the state_dict keeps its keys, so saved
    weights load either way, and every caller of ``backbone.encoder`` (a method's own copies of it
    included: ``deepcopy`` keeps hooks) sees normalised images.
    """
    kind = check("backbone.input_norm", kind, lambda v: v in (None, "instance"), "null or instance")
    if kind == "instance":
        backbone.encoder.register_forward_pre_hook(instance_normalized)
    return backbone


class BottleneckEncoder(nn.Module):
    """An encoder's taps with its ``features`` passed on through a bottleneck; what went in stays
    as the tap ``dense``."""

    def __init__(self, encoder: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.encoder, self.neck = encoder, neck

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        taps = self.encoder(x)
        return {**taps, "dense": taps["features"], "features": self.neck(taps["features"])}


class Backbone(nn.Module):
    """``encoder(x) -> {tap: tensor}`` (always with ``features``) and ``head(features) -> logits``
    over ``num_classes`` classes."""

    encoder: nn.Module
    head: nn.Module
    num_classes: int
    weights: str | None = None  # what load_weights starts from (None: the random init)

    def add_bottleneck(self, width_in: int, width: Any) -> int:
        """Put a bottleneck of ``width`` (0: none) after the encoder; returns the head's input width."""
        if non_negative_int("bottleneck", width) == 0:
            return width_in
        neck, width = bottleneck_layer(width_in, width)
        self.encoder = BottleneckEncoder(self.encoder, neck)
        return width

    def load_weights(self, download: bool = False) -> None:
        """Start from ``self.weights``: a path to a ``state_dict`` of this backbone.

        ``download`` lets a subclass fetch named weights it knows (torchvision's) when missing.
        """
        if self.weights is not None:
            load_into(
                self, read_state_dict(self.weights, "backbone.weights"), "backbone.weights", self.weights
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)["features"])

    def tap_shapes(self, image_size: int) -> dict[str, tuple[int, ...]]:
        """Shape (without batch) of every tap, found by one dummy forward pass."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            param = next(self.parameters())
            taps = self.encoder(torch.zeros(1, 3, image_size, image_size, device=param.device))
        self.train(was_training)
        return {name: tuple(t.shape[1:]) for name, t in taps.items()}


def read_state_dict(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """A ``state_dict`` file read without unpickling code; any way it is wrong is one line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{key}={str(path)!r}: no such file; give a state_dict saved with torch.save")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{key}={str(path)!r} is not a readable state_dict ({type(err).__name__})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{key}={str(path)!r} holds no state_dict (a dict of tensors)")
    return state


def load_into(module: nn.Module, state: dict[str, torch.Tensor], key: str, source: str) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise DataError(f"{key}={source!r} does not fit this backbone ({first[:200]})") from err


class SeedEncoder(nn.Module):
    """``blocks`` conv blocks, then a dense ReLU layer.

    Taps: ``pool1`` (the first block's maps), ``conv`` (the last block's maps) and ``features``
    (the dense layer's output).  A discriminator on ``conv`` aligns the convolutional stack and
    leaves the dense layer to the classifier: ADDA's target encoder then adapts only the convs.
    """

    def __init__(self, image_size: int, width: int, blocks: int, hidden: int) -> None:
        super().__init__()
        side = conv_out_size(image_size, blocks)
        if side < 1:
            raise ConfigError(
                f"seed_cnn with {blocks} blocks needs data.image_size >= {self.min_size(blocks)}, "
                f"got {image_size}"
            )
        self.first = conv_block(3, width)
        self.rest = nn.Sequential(*(conv_block(width, width) for _ in range(blocks - 1)))
        self.dense = nn.Sequential(
            nn.Flatten(), nn.Linear(width * side * side, hidden), nn.ReLU(inplace=True)
        )

    @staticmethod
    def min_size(blocks: int) -> int:
        size = 1
        for _ in range(blocks):
            size = size * 2 + 2
        return size

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool1 = self.first(x)
        conv = self.rest(pool1)
        return {"pool1": pool1, "conv": conv, "features": self.dense(conv)}


@BACKBONES.register("seed_cnn")
class SeedCNN(Backbone):
    """The seed's classifier: 4 x [conv 3x3 32, ReLU, maxpool 2] -> dense 64 ReLU -> dense 10."""

    def __init__(
        self,
        image_size: int,
        num_classes: int = 10,
        width: int = 32,
        blocks: int = 4,
        hidden: int = 64,
        weights: str | None = None,
        bottleneck: int = 0,
    ) -> None:
        super().__init__()
        self.weights = weights
        width, blocks, hidden = (
            positive_int("width", width),
            positive_int("blocks", blocks),
            positive_int("hidden", hidden),
        )
        self.num_classes = positive_int("num_classes", num_classes)
        self.encoder = SeedEncoder(image_size, width, blocks, hidden)
        self.head = nn.Linear(self.add_bottleneck(hidden, bottleneck), num_classes)
