"""The training loop: draw batches, step the method, log, evaluate at intervals."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from tqdm import tqdm

from adda.data import BatchStream
from adda.errors import AddaError
from adda.logging import RunLogger
from adda.methods import Method


class NonFiniteLoss(AddaError):
    """A loss or metric became NaN/inf; the message names the step and the quantity."""


class MetricMeter:
    """Sums metrics on the device; reading them (one sync) happens only at logging intervals."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
            self.counts[k] += 1

    def read(self) -> dict[str, float]:
        out = {k: (v / self.counts[k]).item() for k, v in self.sums.items()}
        self.sums.clear()
        self.counts.clear()
        return out


def fit(
    method: Method,
    source: BatchStream,
    target: BatchStream,
    steps: int,
    logger: RunLogger,
    log_every: int,
    eval_every: int,
    evaluate: Callable[[], dict[str, float]],
    progress: bool = True,
) -> float:
    """Run ``steps`` training steps; returns the wall-clock seconds spent training."""
    meter = MetricMeter()
    seconds = 0.0
    bar = tqdm(
        range(steps), desc=type(method).__name__, disable=not progress, dynamic_ncols=True, mininterval=1.0
    )
    tick = time.perf_counter()
    for step in bar:
        src = source.next()
        tgt = target.next() if method.uses_target else src
        meter.add(method.train_step(src, tgt, step))
        done = step + 1
        if done % log_every == 0 or done == steps:
            lr = method.learning_rate()
            values = meter.read()
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                raise NonFiniteLoss(
                    f"{bad[0]}={values[bad[0]]} at step {done}: lower optim.lr or the adversarial weight"
                )
            logger.scalars({**values, "lr": lr}, done)
            bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items()}, refresh=False)
        if eval_every and done % eval_every == 0 and done != steps:
            seconds += time.perf_counter() - tick
            logger.scalars({f"acc/{k}": v for k, v in evaluate().items()}, done)
            tick = time.perf_counter()
    seconds += time.perf_counter() - tick
    bar.close()
    return seconds
