"""Write a run's two domains as image folders, exactly as the run would see them.

Each split becomes ``<out>/<domain>/<split>/<class>/<n>.png`` (lossless), rendered once through
the domain's transforms: the target test split with ``target.test_seed`` (so it is the very set a
device-resident run is scored on), its held-out split with ``test_seed + 1`` as the validators'
sample is, and its training split with ``test_seed + 2``.  Training from those folders
(``source=folder target=folder``) is then the same task from disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from torchvision.io import write_png

from adda.data.domain import load_splits, make_domain, take
from adda.data.transforms import Compose

log = logging.getLogger(__name__)
SPLIT_SEEDS = {"test": 0, "val": 1, "train": 2}  # added to target.test_seed


def export_domains(cfg: DictConfig, out: Path, limit: int | None = None) -> dict[str, int]:
    """Writes both domains' train, val and test splits (the first ``limit`` images of each);
    returns how many images each ``<domain>/<split>`` folder got."""
    source_splits, target_splits = load_splits(cfg)
    size, cpu = cfg.data.image_size, torch.device("cpu")
    chains = {
        "source": Compose.from_config(cfg.source.get("transforms"), at="source.transforms"),
        "target": Compose.from_config(cfg.target.transforms, at="target.transforms"),
    }
    counts = {}
    for name, splits in (("source", source_splits), ("target", target_splits)):
        for split, offset in SPLIT_SEEDS.items():
            domain = make_domain(take(getattr(splits, split), limit), chains[name], size, cpu)
            images = domain.render_all(torch.Generator().manual_seed(cfg.target.test_seed + offset))
            folder = out / name / split
            for label in range(len(splits.classes)):
                (folder / splits.classes[label]).mkdir(parents=True, exist_ok=True)
            for i, (image, label) in enumerate(zip(images, domain.labels.tolist(), strict=True)):
                write_png(image, str(folder / splits.classes[label] / f"{i:06d}.png"))
            counts[f"{name}/{split}"] = len(images)
            log.info("wrote %d images to %s", len(images), folder)
    return counts


def folder_overrides(out: Path) -> list[str]:
    """The ``adda-train`` overrides that train from what :func:`export_domains` wrote."""
    return [
        "source=folder",
        f"source.root={out}/source/train",
        f"source.val_root={out}/source/val",
        f"source.test_root={out}/source/test",
        "target=folder",
        f"target.root={out}/target/train",
        f"target.val_root={out}/target/val",
        f"target.test_root={out}/target/test",
    ]
