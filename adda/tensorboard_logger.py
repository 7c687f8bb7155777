"""TensorBoard logging with grouped tags (``loss/``, ``acc/``, ``samples/``, ``hparam/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid


def image_grid(batch: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """Images in [-1, 1] tiled into one float (3, H, W) picture in [0, 1], ``nrow`` per row."""
    return make_grid(batch.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1))


class TensorBoardLogger:
    """One TensorBoard event folder per run (``<run>/tb``)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        """``purge_step``: on resume, drop events a crashed run logged after its checkpoint."""
        self.log_dir = log_dir
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def images(self, tag: str, batch: torch.Tensor, step: int = 0, nrow: int = 8) -> None:
        """A grid of images in [-1, 1]."""
        self.writer.add_image(tag, image_grid(batch, nrow), step)

    def figure(self, tag: str, figure: Any, step: int) -> None:
        """A matplotlib figure as an image (closed afterwards)."""
        self.writer.add_figure(tag, figure, step, close=True)

    def embedding(
        self,
        features: torch.Tensor,
        metadata: list[list[str]],
        header: list[str],
        thumbnails: torch.Tensor,
        step: int,
        tag: str = "features",
    ) -> None:
        """Points for the Projector tab: one row of ``metadata`` (columns ``header``) and one
        thumbnail (float (N, 3, h, w) in [0, 1], the sprite) per feature vector."""
        self.writer.add_embedding(
            features,
            metadata=metadata,
            metadata_header=header,
            label_img=thumbnails,
            global_step=step,
            tag=tag,
        )

    def hparams(self, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Rows for the HParams dashboard, written into this run's own folder."""
        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
        self.writer.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
