"""Domains: a dataset resized once and kept on the device, seen through a transform chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from adda.data.datasets import Splits
from adda.data.transforms import Compose
from adda.registry import DATASETS

RESIZE_CHUNK = 8192


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of uint8 (N, C, h, w) to (N, C, size, size), done once at load time."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8, device=images.device)
    for i in range(0, len(images), RESIZE_CHUNK):
        chunk = images[i : i + RESIZE_CHUNK].float()
        big = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False)
        out[i : i + RESIZE_CHUNK] = big.round_().clamp_(0, 255).to(torch.uint8)
    return out


@dataclass
class Domain:
    """Labelled uint8 images (N, C, S, S) on the device plus the transform that defines the domain."""

    images: torch.Tensor
    labels: torch.Tensor
    transform: Compose

    def __len__(self) -> int:
        return len(self.images)

    def render(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch ``idx`` as the network sees it: float (B, 3, S, S) in [-1, 1]."""
        x = self.transform(self.images[idx].float().div_(255.0), generator)
        if x.shape[1] == 1:  # a contiguous copy: convolutions on a stride-0 view run 1.5x slower
            return x.expand(-1, 3, -1, -1).mul(2).sub_(1)
        return x.mul_(2).sub_(1)  # in place: transforms return new tensors

    def render_all(self, generator: torch.Generator, batch: int = 2048) -> torch.Tensor:
        """Every image rendered once and stored as uint8 (N, 3, S, S): a fixed test set."""
        out = []
        for i in range(0, len(self), batch):
            idx = torch.arange(i, min(i + batch, len(self)), device=self.images.device)
            out.append(((self.render(idx, generator) + 1) * 127.5).round_().to(torch.uint8))
        return torch.cat(out)


@dataclass
class EvalSet:
    """A fixed evaluation set, rendered once (uint8, 3 channels), of one ``domain`` (source or
    target) in one ``role``: ``val`` and ``test`` are labelled, ``unlabelled`` (``labels`` None) is
    the target sample the label-free validators read."""

    images: torch.Tensor
    labels: torch.Tensor | None
    domain: str
    role: str

    @property
    def name(self) -> str:
        return f"{self.domain}_{self.role}"

    def batches(self, size: int):
        for i in range(0, len(self.images), size):
            yield self.images[i : i + size].float().mul_(2 / 255.0).sub_(1.0)

    def sha256(self) -> str:
        """A fingerprint of the images and labels: runs scored on different sets are told apart."""
        digest = hashlib.sha256(self.images.cpu().contiguous().numpy().tobytes())
        if self.labels is not None:
            digest.update(self.labels.cpu().numpy().tobytes())
        return digest.hexdigest()


@dataclass
class DomainData:
    """Everything a run draws from: two training domains and the fixed evaluation sets."""

    source: Domain
    target: Domain
    evals: dict[str, EvalSet]


def load_splits(cfg: DictConfig) -> tuple[Splits, Splits]:
    """The source dataset's splits and the target's (the same object unless it names another)."""
    data = cfg.data
    source_cfg = OmegaConf.to_container(cfg.source, resolve=True)
    target_node = cfg.target.get("dataset")
    target_cfg = source_cfg if target_node is None else OmegaConf.to_container(target_node, resolve=True)
    source_splits = DATASETS.build(source_cfg, root=data.root, download=data.download).load()
    if target_cfg == source_cfg:
        return source_splits, source_splits
    return source_splits, DATASETS.build(target_cfg, root=data.root, download=data.download).load()


def make_domain(
    split: tuple[torch.Tensor, torch.Tensor],
    tf: Compose,
    size: int,
    device: torch.device,
    limit: int | None = None,
) -> Domain:
    """The first ``limit`` images of a split, resized on ``device``."""
    x, y = split
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return Domain(resize(x.to(device), size), y.to(device), tf)


def build_domains(cfg: DictConfig, device: torch.device) -> DomainData:
    """Load, resize and place the data; render the evaluation sets with fixed seeds.

    The target test set uses ``target.test_seed`` so every run and method sees the same images;
    target training images get fresh random transforms at each draw and their labels are never
    read by any method.  ``target_unlabelled`` (the first ``trainer.validation_samples`` of the
    target's held-out split, labels dropped) is what the label-free validators look at.
    """
    size = cfg.data.image_size
    source_tf = Compose.from_config(cfg.source.get("transforms"), at="source.transforms")
    target_tf = Compose.from_config(cfg.target.transforms, at="target.transforms")
    source_splits, target_splits = load_splits(cfg)
    cpu = torch.device("cpu")

    def fixed(split, tf: Compose, seed: int, domain: str, role: str, limit: int | None) -> EvalSet:
        """Resized and rendered on the CPU, whose generator draws the same numbers everywhere,
        then moved: a GPU run is scored on the very images a CPU run is."""
        rendered = make_domain(split, tf, size, cpu, limit)
        images = rendered.render_all(torch.Generator(cpu).manual_seed(seed)).to(device)
        labels = None if role == "unlabelled" else rendered.labels.to(device)
        return EvalSet(images, labels, domain, role)

    limit, seed = cfg.data.get("eval_limit"), cfg.target.test_seed
    sets = [
        fixed(source_splits.val, source_tf, seed, "source", "val", limit),
        fixed(source_splits.test, source_tf, seed, "source", "test", limit),
        fixed(target_splits.test, target_tf, seed, "target", "test", limit),
        fixed(target_splits.val, target_tf, seed + 1, "target", "unlabelled", cfg.trainer.validation_samples),
    ]
    evals = {s.name: s for s in sets}
    return DomainData(
        source=make_domain(source_splits.train, source_tf, size, device),
        target=make_domain(target_splits.train, target_tf, size, device),
        evals=evals,
    )
