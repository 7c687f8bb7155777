"""The digit networks the adaptation papers report with, each a convolutional stack (tap ``conv``)
and dense layers (tap ``features``), then a classifier head.

They take 3-channel images in [-1, 1] (grey digits are shown in three channels) at the size they
were published for (28 px for LeNet and the DANN network, 32 px for DTN) or larger, such as the
seed's 64 px: the first dense layer takes whatever the convolutions leave.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from adda.checks import non_negative_int, positive_int
from adda.errors import ConfigError
from adda.models.backbones import Backbone
from adda.registry import BACKBONES


class ConvDenseEncoder(nn.Module):
    """``convs`` (tap ``conv``), flattened, then ``dense`` (tap ``features``)."""

    def __init__(self, convs: nn.Module, dense: nn.Module) -> None:
        super().__init__()
        self.convs, self.dense = convs, dense

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        conv = self.convs(x)
        return {"conv": conv, "features": self.dense(conv.flatten(1))}


def conv_output(convs: nn.Module, image_size: int, name: str, min_size: int) -> int:
    """How many numbers ``convs`` leaves per image at ``image_size``; a size it cannot take is
    one line naming the smallest that works."""
    if image_size < min_size:
        raise ConfigError(f"backbone {name} needs data.image_size >= {min_size}, got {image_size}")
    was_training = convs.training
    convs.eval()
    with torch.no_grad():
        out = convs(torch.zeros(1, 3, image_size, image_size))
    convs.train(was_training)
    return math.prod(out.shape[1:])


class DigitNet(Backbone):
    """Shared by the digit networks: ``convs``, then ``dense(flat)`` built for the ``flat`` numbers
    per image the convolutions leave at this image size, an optional bottleneck, and
    ``head(width)`` for the ``width`` of the features it reads (``width`` None: ``flat``)."""

    name: str
    min_size: int

    def build(
        self, image_size: int, convs: nn.Module, dense, head, num_classes: int, bottleneck: int, width=None
    ) -> None:
        self.num_classes = num_classes
        flat = conv_output(convs, image_size, self.name, self.min_size)
        width = flat if width is None else width
        neck = non_negative_int("bottleneck", bottleneck)
        self.head = head(neck or width)  # before the dense layers: the order a seed's initialisation follows
        self.encoder = ConvDenseEncoder(convs, dense(flat))
        self.add_bottleneck(width, neck)


@BACKBONES.register("lenet")
class LeNet(DigitNet):
    """ADDA's LeNet (Tzeng et al. 2017, after LeCun et al. 1998): 2 x [conv 5x5 (20, 50), max-pool
    2, ReLU] -> dense 500 ReLU (``features``) -> dense ``num_classes``."""

    name, min_size = "lenet", 16

    def __init__(
        self,
        image_size: int,
        num_classes: int = 10,
        hidden: int = 500,
        weights: str | None = None,
        bottleneck: int = 0,
    ) -> None:
        super().__init__()
        self.weights, hidden = weights, positive_int("hidden", hidden)
        convs = nn.Sequential(
            nn.Conv2d(3, 20, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )  # fmt: skip
        dense = lambda n: nn.Sequential(nn.Linear(n, hidden), nn.ReLU(inplace=True))  # noqa: E731
        num_classes = positive_int("num_classes", num_classes)
        head = lambda width: nn.Linear(width, num_classes)  # noqa: E731
        self.build(image_size, convs, dense, head, num_classes, bottleneck, width=hidden)


@BACKBONES.register("dann_mnist")
class DANNMnist(DigitNet):
    """Ganin & Lempitsky's MNIST network (2015, their appendix): 2 x [conv 5x5 (32, 48), ReLU,
    max-pool 2]; the flattened maps are the ``features`` the domain classifier reads, and the label
    predictor is the head: dense 100 ReLU, dense 100 ReLU, dense ``num_classes``."""

    name, min_size = "dann_mnist", 16

    def __init__(
        self,
        image_size: int,
        num_classes: int = 10,
        hidden: int = 100,
        weights: str | None = None,
        bottleneck: int = 0,
    ) -> None:
        super().__init__()
        self.weights, hidden = weights, positive_int("hidden", hidden)
        convs = nn.Sequential(
            nn.Conv2d(3, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )  # fmt: skip
        num_classes = positive_int("num_classes", num_classes)
        head = lambda width: nn.Sequential(  # noqa: E731
            nn.Linear(width, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip
        self.build(image_size, convs, lambda flat: nn.Identity(), head, num_classes, bottleneck)


@BACKBONES.register("dtn")
class DTN(DigitNet):
    """The DTN digit network of the SVHN -> MNIST experiments (CDAN, Long et al. 2018, after
    Taigman et al. 2017): 3 x [conv 5x5 stride 2 (64, 128, 256), BatchNorm, dropout (0.1, 0.3, 0.5),
    ReLU] -> dense 512, BatchNorm, ReLU, dropout 0.5 (``features``) -> dense ``num_classes``."""

    name, min_size = "dtn", 8

    def __init__(
        self,
        image_size: int,
        num_classes: int = 10,
        hidden: int = 512,
        weights: str | None = None,
        bottleneck: int = 0,
    ) -> None:
        super().__init__()
        self.weights, hidden = weights, positive_int("hidden", hidden)
        blocks = []
        for c_in, c_out, p in ((3, 64, 0.1), (64, 128, 0.3), (128, 256, 0.5)):
            blocks += [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.BatchNorm2d(c_out)]
            blocks += [nn.Dropout2d(p), nn.ReLU(inplace=True)]
        dense = lambda n: nn.Sequential(  # noqa: E731
            nn.Linear(n, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(0.5)
        )
        num_classes = positive_int("num_classes", num_classes)
        head = lambda width: nn.Linear(width, num_classes)  # noqa: E731
        self.build(image_size, nn.Sequential(*blocks), dense, head, num_classes, bottleneck, width=hidden)
