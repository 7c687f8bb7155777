"""Any torchvision (or timm) classification model as a backbone, optionally pretrained.

The encoder is the model without its classifier (the ``trunk``), followed by the bottleneck of the
DANN/CDAN ResNet recipes (Linear, BatchNorm, ReLU; ``bottleneck=0`` leaves it out); the head is
one Linear layer.  Taps: ``conv``, the last convolutional maps (what the trunk's global pooling
reads, where it has one), ``pooled``, the trunk's output, and ``features``, the bottleneck's.
Pretrained models expect ImageNet statistics: the encoder converts the [-1, 1] images it is given
once, as its first op.  The trunk's parameters are what ``optim.backbone_lr_mult`` slows down.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from adda.checks import non_negative_int, positive_int
from adda.errors import ConfigError, DataError
from adda.models.backbones import Backbone, bottleneck_layer, load_into, read_state_dict
from adda.registry import BACKBONES

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLASSIFIERS = ("fc", "classifier", "heads", "head")  # where torchvision models keep theirs


class ImageNetInput(nn.Module):
    """[-1, 1] images to ImageNet's per-channel standardisation, in one multiply-add."""

    def __init__(self) -> None:
        super().__init__()
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", 0.5 / std, persistent=False)
        self.register_buffer(
            "shift", (0.5 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / std, persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)


class TrunkEncoder(nn.Module):
    """ImageNet input statistics, the trunk (its ``conv`` maps caught on the way), the bottleneck."""

    def __init__(self, trunk: nn.Module, pool: nn.Module | None, bottleneck: nn.Module) -> None:
        super().__init__()
        self.input = ImageNetInput()
        self.trunk, self.bottleneck = trunk, bottleneck
        self._maps: torch.Tensor | None = None
        if pool is not None:
            pool.register_forward_pre_hook(self._catch)

    def _catch(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self._maps = args[0]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.trunk(self.input(x))
        taps = {"pooled": pooled, "features": self.bottleneck(pooled)}
        if self._maps is not None:
            taps["conv"], self._maps = self._maps, None
        return taps


def drop_classifier(model: nn.Module) -> None:
    """The model's last Linear layer becomes the identity: its classifier alone when that is a
    stack (ConvNeXt keeps its norm and flatten, VGG its dense layers)."""
    for name in CLASSIFIERS:
        part = getattr(model, name, None)
        if isinstance(part, nn.Sequential) and any(isinstance(m, nn.Linear) for m in part):
            last = max(i for i, m in enumerate(part) if isinstance(m, nn.Linear))
            part[last] = nn.Identity()
            return
        if isinstance(part, nn.Module):
            setattr(model, name, nn.Identity())
            return


def find_pool(trunk: nn.Module) -> nn.Module | None:
    """The global pooling layer whose input is the last convolutional maps, if the trunk has one."""
    pool = getattr(trunk, "avgpool", None) or getattr(trunk, "global_pool", None)
    return pool if isinstance(pool, nn.Module) else None


class TrunkBackbone(Backbone):
    """Shared by the torchvision and timm backbones: a library model whose output is its pooled
    features.  Subclasses say which names the library knows and how it builds one (random init)."""

    library: str

    def __init__(
        self,
        image_size: int,
        arch: str = "resnet50",
        weights: str | None = None,
        bottleneck: int = 256,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        known = self.known_archs()
        if arch not in known:
            close = difflib.get_close_matches(str(arch), known, n=5, cutoff=0.5)
            raise ConfigError(
                f"backbone.arch={arch!r}: not a {self.library} model (close: {', '.join(close) or 'none'})"
            )
        self.arch, self.weights = arch, weights
        trunk = self.make_trunk(arch)
        self.num_classes = positive_int("num_classes", num_classes)
        neck, width = bottleneck_layer(
            self.trunk_width(trunk, image_size), non_negative_int("bottleneck", bottleneck)
        )
        self.encoder = TrunkEncoder(trunk, find_pool(trunk), neck)
        self.head = nn.Linear(width, self.num_classes)

    def known_archs(self) -> list[str]:
        raise NotImplementedError

    def make_trunk(self, arch: str) -> nn.Module:
        raise NotImplementedError

    def trunk_width(self, trunk: nn.Module, image_size: int) -> int:
        trunk.eval()
        try:
            with torch.no_grad():
                out = trunk(torch.zeros(2, 3, image_size, image_size))
        except (RuntimeError, ValueError, AssertionError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise ConfigError(
                f"backbone {self.arch!r} cannot take data.image_size={image_size} ({first}); use a larger "
                f"data.image_size"
            ) from err
        trunk.train()
        if out.dim() != 2:
            raise ConfigError(
                f"backbone {self.arch!r}: its trunk gives {tuple(out.shape[1:])} per image, not a vector"
            )
        return out.shape[1]

    def load_trunk(self, state: dict[str, torch.Tensor], source: str) -> None:
        """A trunk ``state_dict`` (the model's own format; its classifier's keys are left out)."""
        classifier = tuple(f"{name}." for name in CLASSIFIERS)
        kept = {k: v for k, v in state.items() if not k.startswith(classifier)}
        load_into(self.encoder.trunk, kept, "backbone.weights", source)


@BACKBONES.register("torchvision")
class TorchvisionBackbone(TrunkBackbone):
    """``torchvision.models.get_model(arch)`` without its classifier.  ``weights``: a torchvision
    weights name (``IMAGENET1K_V2``), read from the torch hub cache (fetched there only with
    ``data.download=true``), or a path to a ``state_dict`` of the model (torchvision's format)."""

    library = "torchvision"

    def known_archs(self) -> list[str]:
        import torchvision

        return torchvision.models.list_models(module=torchvision.models)

    def make_trunk(self, arch: str) -> nn.Module:
        import torchvision

        trunk = torchvision.models.get_model(arch, weights=None)
        drop_classifier(trunk)
        return trunk

    def load_weights(self, download: bool = False) -> None:
        if self.weights is None:
            return
        if Path(self.weights).expanduser().suffix or "/" in self.weights:
            self.load_trunk(read_state_dict(self.weights, "backbone.weights"), self.weights)
            return
        self.load_trunk(self.named_weights(download), self.weights)

    def named_weights(self, download: bool) -> dict[str, torch.Tensor]:
        """torchvision's named weights from the hub cache; fetched only when downloads are allowed."""
        import torchvision

        try:
            weights = torchvision.models.get_model_weights(self.arch)[self.weights]
        except KeyError:
            names = ", ".join(w.name for w in torchvision.models.get_model_weights(self.arch))
            raise ConfigError(
                f"backbone.weights={self.weights!r}: {self.arch} has weights {names}; "
                f"or give a state_dict path"
            ) from None
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        if not file.is_file() and not download:
            raise DataError(
                f"backbone.weights={self.weights}: {file} is missing; pass data.download=true (online), "
                f"or fetch {weights.url} into {file.parent}"
            )
        return weights.get_state_dict(progress=False, check_hash=True)


@BACKBONES.register("timm")
class TimmBackbone(TrunkBackbone):
    """``timm.create_model(arch, num_classes=0)`` (pooled features), the timm extra
    (``pip install adda[timm]``).  ``weights``: ``pretrained`` (timm's default weights, from its
    cache; fetched only with ``data.download=true``) or a path to a ``state_dict`` of the model."""

    library = "timm"

    def known_archs(self) -> list[str]:
        try:
            import timm
        except ImportError:
            raise ConfigError("backbone=timm needs timm: pip install 'adda[timm]'") from None
        return timm.list_models()

    def make_trunk(self, arch: str) -> nn.Module:
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=0)

    def load_weights(self, download: bool = False) -> None:
        if self.weights is None:
            return
        if self.weights != "pretrained":
            self.load_trunk(read_state_dict(self.weights, "backbone.weights"), self.weights)
            return
        import huggingface_hub.constants as hub
        import timm

        offline = hub.HF_HUB_OFFLINE
        hub.HF_HUB_OFFLINE = offline or not download  # offline: the cache only, no retries
        try:
            model = timm.create_model(self.arch, pretrained=True, num_classes=0)
        except Exception as err:
            raise DataError(
                f"backbone.weights=pretrained: timm's weights for {self.arch} are not in its cache "
                f"({type(err).__name__}); pass data.download=true (online)"
            ) from err
        finally:
            hub.HF_HUB_OFFLINE = offline
        self.load_trunk(model.state_dict(), f"timm {self.arch}")
