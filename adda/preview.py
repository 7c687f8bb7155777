"""``adda-preview``: see a target domain before training on it.

Takes the same config and overrides as ``adda-train``, renders a few source test images and
their target versions (same digits, the target's transform chain, ``target.test_seed``), and
writes one grid (each source row above its target row) as ``preview.png`` in its run folder,
optionally to ``preview.out``, and to TensorBoard under ``preview/<target>``.  It loads no more
than the datasets and trains nothing, so it takes seconds.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from PIL import Image

from adda.config import CONF_DIR, check_config
from adda.data.domain import load_splits, make_domain
from adda.data.transforms import Compose
from adda.errors import AddaError
from adda.runtime import resolve_device
from adda.tensorboard_logger import TensorBoardLogger, image_grid

log = logging.getLogger(__name__)


def pairs(cfg: DictConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``preview.images`` source test images and their target versions, each (n, 3, S, S) in [-1, 1]."""
    n, size = cfg.preview.images, cfg.data.image_size
    chains = (
        Compose.from_config(cfg.source.get("transforms"), at="source.transforms"),
        Compose.from_config(cfg.target.transforms, at="target.transforms"),
    )
    source_splits, target_splits = load_splits(cfg)
    rendered = []
    for split, chain in zip((source_splits.test, target_splits.test), chains, strict=True):
        domain = make_domain(split, chain, size, device, limit=n)
        generator = torch.Generator(device).manual_seed(cfg.target.test_seed)
        rendered.append(domain.render(torch.arange(len(domain), device=device), generator))
    return rendered[0], rendered[1]


def interleave_rows(source: torch.Tensor, target: torch.Tensor, cols: int) -> torch.Tensor:
    """Orders images so a grid of ``cols`` columns shows each source row above its target row
    (a short last row is padded with black so the target row stays below its source row)."""
    pad = -len(source) % cols
    padded = [torch.cat([x, x.new_full((pad, *x.shape[1:]), -1.0)]) for x in (source, target)]
    rows = torch.stack(padded).unflatten(1, (-1, cols))  # (2, rows, cols, C, H, W)
    return rows.transpose(0, 1).flatten(0, 2)


def write_preview(cfg: DictConfig, out_dir: Path) -> list[Path]:
    """Render the grid, write it as PNG(s) and to TensorBoard; returns the PNG paths."""
    check_config(cfg)
    device = resolve_device(cfg.device)
    source, target = pairs(cfg, device)
    batch = interleave_rows(source, target, cfg.preview.cols)
    picture = image_grid(batch, nrow=cfg.preview.cols)
    pixels = picture.mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    paths = [out_dir / "preview.png"] + ([Path(cfg.preview.out)] if cfg.preview.get("out") else [])
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, optimize=True)
    logger = TensorBoardLogger(out_dir / "tb")
    logger.images(f"preview/{cfg.target.name}", batch, nrow=cfg.preview.cols)
    logger.close()
    return paths


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="preview")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: a bad value or missing dataset ends as one line and exit 2."""
    try:
        for path in write_preview(cfg, Path(HydraConfig.get().runtime.output_dir)):
            log.info("preview of target %r written to %s", cfg.target.name, path)
    except AddaError as err:
        log.error("error: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
