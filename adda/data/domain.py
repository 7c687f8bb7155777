"""Domains: a dataset seen through a transform chain, kept on the device (resident) or read from
disk as batches are drawn (streamed), and the fixed evaluation sets rendered once."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import functional as TF

from adda.data.augment import Augment
from adda.data.datasets import DIGITS, Splits
from adda.data.folder import Files, ImageFiles, first_difference, is_jpeg, stack
from adda.data.transforms import Compose
from adda.errors import ConfigError, DataError
from adda.registry import DATASETS

log = logging.getLogger(__name__)

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


def network_input(x: torch.Tensor, transform: Compose, generator: torch.Generator) -> torch.Tensor:
    """A uint8 batch as the network sees it: through the domain's transforms, float (B, 3, S, S)
    in [-1, 1]."""
    x = transform(x.float().div_(255.0), generator)
    if x.shape[1] == 1:  # a contiguous copy: convolutions on a stride-0 view run 1.5x slower
        return x.expand(-1, 3, -1, -1).mul(2).sub_(1)
    return x.mul_(2).sub_(1)  # in place: transforms return new tensors


@dataclass
class Domain:
    """Labelled uint8 images (N, C, L, L) on the device plus the transform that defines the domain;
    ``augment`` (photographs) turns each drawn image from ``data.load_size`` into ``data.image_size``."""

    images: torch.Tensor
    labels: torch.Tensor
    transform: Compose
    augment: Augment | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def render(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch ``idx`` as the network sees it: float (B, 3, S, S) in [-1, 1]."""
        x = self.images[idx]
        if self.augment:
            x = self.augment.batch(x, generator)
        return network_input(x, self.transform, generator)

    def render_all(self, generator: torch.Generator, batch: int = 2048) -> torch.Tensor:
        """Every image rendered once and stored as uint8 (N, 3, S, S): a fixed test set."""
        out = []
        for i in range(0, len(self), batch):
            idx = torch.arange(i, min(i + batch, len(self)), device=self.images.device)
            out.append(((self.render(idx, generator) + 1) * 127.5).round_().to(torch.uint8))
        return torch.cat(out)


@dataclass
class StreamedDomain:
    """A domain read from disk as it is drawn (:class:`adda.data.stream.FileStream`): ``dataset``
    decodes and augments one image; the transform chain runs on ``device`` on whole batches."""

    dataset: ImageFiles
    transform: Compose
    device: torch.device

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> torch.Tensor:
        return self.dataset.files.labels

    def network_input(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return network_input(x, self.transform, generator)

    def render(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The images ``idx``, read here in the main process (sample grids, not training)."""
        seeds = torch.randint(0, 2**62, (len(idx),), generator=generator, device=generator.device)
        items = [self.dataset[(i, s)][0] for i, s in zip(idx.tolist(), seeds.tolist(), strict=True)]
        return self.network_input(torch.stack(items).to(self.device), generator)


@dataclass
class EvalSet:
    """A fixed evaluation set, rendered once (uint8, 3 channels), of one ``domain`` (source or
    target) in one ``role``: ``val`` and ``test`` are labelled, ``unlabelled`` (``labels`` None) is
    the target sample the label-free validators read."""

    images: torch.Tensor
    labels: torch.Tensor | None
    domain: str
    role: str
    device: torch.device | None = None  # where batches go; None: where the images are

    @property
    def name(self) -> str:
        return f"{self.domain}_{self.role}"

    def batches(self, size: int):
        for i in range(0, len(self.images), size):
            x = self.images[i : i + size]
            x = x if self.device is None else x.to(self.device, non_blocking=True)
            yield x.float().mul_(2 / 255.0).sub_(1.0)

    def mixed(self, i: torch.Tensor, j: torch.Tensor, lam: float, chunk: int = 256) -> EvalSet:
        """The unlabelled set of ``lam * image_i + (1 - lam) * image_j`` (MixVal's probes), mixed
        as uint8 (the network's input scaling is affine, so this is the mix it sees), in chunks."""
        images, i, j = self.images, i.to(self.images.device), j.to(self.images.device)
        out = torch.empty((len(i), *images.shape[1:]), dtype=torch.uint8, device=images.device)
        for k in range(0, len(i), chunk):
            a, b = images[i[k : k + chunk]].float(), images[j[k : k + chunk]].float()
            out[k : k + chunk] = (lam * a + (1 - lam) * b).round_().to(torch.uint8)
        return EvalSet(out, None, self.domain, "unlabelled", self.device)

    def sha256(self) -> str:
        """A fingerprint of the set of (image, label) pairs, whatever their order: runs scored on
        different sets are told apart, and a set read back from class folders (sorted by class)
        matches the one it was written from."""
        images = self.images.cpu().contiguous().numpy()
        labels = [None] * len(images) if self.labels is None else self.labels.cpu().tolist()
        items = sorted(
            hashlib.sha256(x.tobytes() + str(y).encode()).digest()
            for x, y in zip(images, labels, strict=True)
        )
        return hashlib.sha256(b"".join(items)).hexdigest()


@dataclass
class DomainData:
    """Everything a run draws from: two training domains and the fixed evaluation sets;
    ``classes`` names the labels; ``transductive``: the target test set is its training images."""

    source: Domain | StreamedDomain
    target: Domain | StreamedDomain
    evals: dict[str, EvalSet]
    classes: tuple[str, ...] = DIGITS
    transductive: bool = False


def build_dataset(node: Any, data_root: str, download: bool = False, at: str | None = None) -> Any:
    """A dataset from its config node, under ``data.root`` unless it names a ``root`` of its own
    (a folder set)."""
    node = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    node = {"root": data_root, **node}
    node.pop("transforms", None)
    return DATASETS.build(node, at=at, download=download)


def load_splits(cfg: DictConfig) -> tuple[Splits, Splits]:
    """The source dataset's splits and the target's (the same object unless it names another);
    their classes must agree, name for name and in order."""
    source_cfg = OmegaConf.to_container(cfg.source, resolve=True)
    target_node = cfg.target.get("dataset")
    target_cfg = source_cfg if target_node is None else OmegaConf.to_container(target_node, resolve=True)

    def load(node: dict[str, Any], at: str) -> Splits:
        return build_dataset(node, cfg.data.root, cfg.data.download, at).load()

    source_splits = load(source_cfg, "source")
    if target_cfg == source_cfg:
        return source_splits, source_splits
    target_splits = load(target_cfg, "target")
    diff = first_difference(source_splits.classes, target_splits.classes, "the source", "the target")
    if diff:
        raise DataError(
            f"source {source_cfg['name']!r} and target {cfg.target.name!r} have different classes: "
            f"{diff}; give both domains the same classes (the same class folders)"
        )
    return source_splits, target_splits


def take(split: Any, limit: int | None) -> Any:
    """The first ``limit`` items of a split (all of them for None)."""
    if limit is None:
        return split
    if isinstance(split, Files):
        return split.subset(range(min(limit, len(split))))
    x, y = split
    return x[:limit], y[:limit]


READ_IN_MAIN = 2000  # smaller sets are decoded in the main process: starting workers costs more


def read_images(
    files: Files, load_size: int, crop: int, workers: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every file decoded into one preallocated uint8 (N, 3, crop, crop) (a big set is not held
    twice), with a log line per tenth for big sets."""
    loader = DataLoader(
        ImageFiles(files, load_size, crop=crop),
        batch_size=256,
        num_workers=workers if len(files) > READ_IN_MAIN else 0,
        collate_fn=stack,
    )
    images = torch.empty(len(files), 3, crop, crop, dtype=torch.uint8)
    done, every = 0, max(len(files) // 10, 1)
    for x, _ in loader:
        images[done : done + len(x)] = x
        if (done + len(x)) // every > done // every and len(files) > READ_IN_MAIN:
            log.info("reading %s: %d/%d images", what, done + len(x), len(files))
        done += len(x)
    return images, files.labels.clone()


def load_images(
    split: Any, load_size: int, crop: int, device: torch.device, workers: int = 0, what: str = "images"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A split as uint8 (N, C, crop, crop) on ``device``: tensors resized to ``load_size`` there
    and centre-cropped, files decoded and resized the same way."""
    if isinstance(split, Files):
        x, y = read_images(split, load_size, crop, workers, what)
        return x.to(device), y.to(device)
    x, y = split
    x = resize(x.to(device), load_size)
    if crop != load_size:
        x = TF.center_crop(x, [crop, crop])
    return x, y.to(device)


def make_domain(
    split: Any,
    tf: Compose,
    size: int,
    device: torch.device,
    limit: int | None = None,
    load_size: int | None = None,
    augment: Augment | None = None,
    workers: int = 0,
    what: str = "images",
) -> Domain:
    """The first ``limit`` images of a split on ``device``, at ``load_size`` when ``augment`` will
    crop them at each draw, else at ``size`` (centre-cropped from ``load_size``)."""
    load = load_size or size
    crop = load if augment else size
    x, y = load_images(take(split, limit), load, crop, device, workers, what)
    return Domain(x, y, tf, augment or None)


def stays_resident(split: Any, setting: bool | str, load_size: int, device: torch.device) -> bool:
    """``data.resident``: tensor sets always are; ``auto`` keeps a folder set on the device when
    its uint8 images take under a quarter of the device's free memory (of the free RAM on a CPU)."""
    if not isinstance(split, Files):
        return True
    if setting != "auto":
        return bool(setting)
    return len(split) * 3 * load_size * load_size < free_memory(device) / 4


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def decodes_on_device(setting: str, files: Files, device: torch.device) -> bool:
    """``data.decode``: ``device`` decodes streamed JPEGs on the training device (nvJPEG on a GPU),
    ``cpu`` in the workers; ``auto`` is ``device`` for a CUDA run on a set of JPEGs only."""
    jpegs = all(is_jpeg(p) for p in files.paths)
    if setting == "device" and not jpegs:
        other = next(p for p in files.paths if not is_jpeg(p))
        raise ConfigError(
            f"data.decode=device decodes JPEGs only and {other} is not one: use data.decode=cpu"
        )
    return setting == "device" or (setting == "auto" and device.type == "cuda" and jpegs)


def data_workers(setting: int | str) -> int:
    """``data.workers`` (per streamed domain): ``auto`` shares the CPU cores between the two
    domains, at most 8 each."""
    return max(1, min(8, (os.cpu_count() or 2) // 2)) if setting == "auto" else int(setting)


def build_domains(
    cfg: DictConfig, device: torch.device, splits: tuple[Splits, Splits] | None = None
) -> DomainData:
    """Load, resize and place the data; render the evaluation sets with fixed seeds.

    The target test set uses ``target.test_seed`` so every run and method sees the same images;
    target training images get fresh random transforms at each draw and their labels are never
    read by any method.  ``target_unlabelled`` (the first ``trainer.validation_samples`` of the
    target's held-out split, labels dropped) is what the label-free validators look at.  A folder
    set stays on the device or streams from disk as ``data.resident`` says; evaluation sets are
    always rendered once (kept in host memory for a streamed domain).
    """
    data = cfg.data
    size = data.image_size
    load_size = data.get("load_size") or size
    augment = Augment(data.get("augment"))
    augment.check(load_size, size)
    source_tf = Compose.from_config(cfg.source.get("transforms"), at="source.transforms")
    target_tf = Compose.from_config(cfg.target.transforms, at="target.transforms")
    source_splits, target_splits = splits or load_splits(cfg)
    workers = data_workers(data.get("workers", "auto"))
    setting = data.get("resident", "auto")
    resident = {
        name: stays_resident(split.train, setting, load_size, device)
        for name, split in (("source", source_splits), ("target", target_splits))
    }
    cpu = torch.device("cpu")

    def fixed(split, tf: Compose, seed: int, domain: str, role: str, limit: int | None) -> EvalSet:
        """Resized and rendered on the CPU, whose generator draws the same numbers everywhere,
        then moved: a GPU run is scored on the very images a CPU run is."""
        rendered = make_domain(split, tf, size, cpu, limit, load_size, None, workers, f"{domain} {role}")
        images = rendered.render_all(torch.Generator(cpu).manual_seed(seed))
        images = images.to(device) if resident[domain] else pinned(images, device)
        labels = None if role == "unlabelled" else rendered.labels.to(device)
        return EvalSet(images, labels, domain, role, device)

    limit, seed = data.get("eval_limit"), cfg.target.test_seed
    sets = [
        fixed(source_splits.val, source_tf, seed, "source", "val", limit),
        fixed(source_splits.test, source_tf, seed, "source", "test", limit),
        fixed(target_splits.test, target_tf, seed, "target", "test", limit),
        fixed(target_splits.val, target_tf, seed + 1, "target", "unlabelled", cfg.trainer.validation_samples),
    ]

    loaded: dict[int, Domain] = {}  # a target drawn from the source's dataset shares its images

    def training(split: Any, tf: Compose, name: str) -> Domain | StreamedDomain:
        if resident[name]:
            if id(split) in loaded:
                return replace(loaded[id(split)], transform=tf)
            domain = make_domain(split, tf, size, device, None, load_size, augment, workers, f"{name} train")
            loaded[id(split)] = domain
            if isinstance(split, Files):
                gb = domain.images.numel() / 1e9
                log.info("%s: %d training images resident on %s (%.2f GB)", name, len(domain), device, gb)
            return domain
        encoded = decodes_on_device(data.get("decode", "auto"), split, device)
        where = f"decoded on {device}" if encoded else "decoded by them"
        log.info(
            "%s: %d training images streamed from disk by %d workers, %s", name, len(split), workers, where
        )
        dataset = ImageFiles(split, load_size, augment=augment, crop=size, encoded=encoded)
        return StreamedDomain(dataset, tf, device)

    if target_splits.transductive:
        log.info(
            "target %r has no test split: transductive protocol, its test set is its own %d images "
            "(their labels are never read for training)",
            cfg.target.name,
            len(target_splits.test),
        )
    return DomainData(
        source=training(source_splits.train, source_tf, "source"),
        target=training(target_splits.train, target_tf, "target"),
        evals={s.name: s for s in sets},
        classes=source_splits.classes,
        transductive=target_splits.transductive,
    )


def pinned(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host memory a GPU copies from fastest (plain memory for a CPU run)."""
    return images.pin_memory() if device.type == "cuda" else images
