"""The training loop: draw batches, step the method, log, evaluate and checkpoint at intervals."""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from tqdm import tqdm

from adda.data import BatchStream
from adda.errors import AddaError
from adda.methods import Method
from adda.runtime import autocast
from adda.tensorboard_logger import TensorBoardLogger


class NonFiniteLoss(AddaError):
    """A loss or weight became NaN/inf; the message names the step and the quantity."""


log = logging.getLogger(__name__)


class Interrupted(AddaError):
    """A stop signal arrived, or the time limit passed (``signum`` ``None``), after ``step``; a
    checkpoint of that step was written."""

    def __init__(
        self, message: str, signum: int | None, step: int, last_values: dict[str, float] | None
    ) -> None:
        super().__init__(message)
        self.signum, self.step, self.last_values = signum, step, last_values


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


# Ctrl-C, the polite kill, and the warning SLURM sends before a time limit or a preemption.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


@contextmanager
def stop_signals() -> Iterator[list[int]]:
    """While inside, the stop signals only record themselves; the loop stops at a step boundary
    (and the handlers from before, such as a scheduler's, are back in place afterwards)."""
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Clock:
    """Training seconds: it runs while steps do and stops while a run evaluates or checkpoints;
    stacked runs each have one, and all of them stop while any one run does its bookkeeping."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds, self._since, self._depth = seconds, time.perf_counter(), 0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Not counting inside; pauses nest (stacked runs pause for all runs' bookkeeping)."""
        if not self._depth:
            self.seconds += time.perf_counter() - self._since
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self._since = time.perf_counter()

    def read(self) -> float:
        return self.seconds + time.perf_counter() - self._since


def stop_reason(received: list[int], deadline: float | None) -> str | None:
    """Why training stops after this step: a stop signal, or the time limit; ``None`` if neither."""
    if received:
        return f"signal {received[0]}"
    if deadline is not None and time.time() >= deadline:
        return "its time limit (trainer.time_limit)"
    return None


@dataclass
class Loop:
    """Runs steps ``start .. steps-1``; ``save(step, seconds)`` writes a checkpoint.

    :meth:`run` trains one method; stacked runs (:mod:`adda.stacking`) step together and each
    run's loop does the rest (:meth:`begin`, :meth:`after_step`, :meth:`end`).
    """

    method: Method
    source: BatchStream
    target: BatchStream
    logger: TensorBoardLogger
    steps: int
    log_every: int
    eval_every: int
    checkpoint_every: int
    evaluate: Callable[[int], dict[str, float]]  # step -> TensorBoard tag -> value
    save: Callable[[int, float], str]
    progress: bool | str = "auto"  # a live bar (auto: when stderr is a terminal), else a line per 10%
    precision: str = "fp32"
    last_values: dict[str, float] | None = None  # the last logged training metrics
    probe: Callable[[int], None] | None = None  # called once, after step ``probe_at`` (untimed)
    probe_at: int = -1
    deadline: float | None = None  # time.time() at which to stop, checkpointed (trainer.time_limit)
    name: str = ""  # what its progress lines begin with (a stacked run's folder)
    train_step: Callable[..., dict[str, torch.Tensor]] | None = None  # default: the method's own

    def run(self, start: int = 0, seconds: float = 0.0) -> float:
        """Train to ``steps``; returns the total training seconds (evaluation excluded)."""
        train_step = self.train_step or self.method.train_step
        with stop_signals() as received:
            self.begin(start, Clock(seconds))
            for step in range(start, self.steps):
                src, tgt = self.draw()
                with autocast(src[0].device, self.precision):
                    metrics = train_step(src, tgt, step)
                self.after_step(step + 1, metrics, stop_reason(received, self.deadline), received)
        return self.end()

    def draw(self) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """This step's source and target batches, each from its own stream."""
        src = self.source.next()
        return src, self.target.next() if self.method.uses_target else src

    def begin(self, start: int, clock: Clock) -> None:
        self.meter, self.last_good, self.clock = MetricMeter(), None, clock
        live = self.progress is True or (self.progress == "auto" and sys.stderr.isatty())
        self._line_every = max(1, self.steps // 10)
        self._started, self._start_step = time.perf_counter(), start
        self.bar = tqdm(
            initial=start,
            total=self.steps,
            desc=self.name or type(self.method).__name__,
            disable=not live,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        self._live = live

    def after_step(
        self, done: int, metrics: dict[str, torch.Tensor], stop: str | None, received: list[int]
    ) -> None:
        """Log, evaluate, checkpoint as due after step ``done``; ``stop``: checkpoint and raise
        :class:`Interrupted` (``received``: the signals that arrived)."""
        self.meter.add(metrics)
        self.bar.update(1)
        if done % self.log_every == 0 or done == self.steps:
            self._log(self.meter.read(), done, self.last_good, self.bar)
        if not self._live and (done % self._line_every == 0 or done == self.steps):
            self._progress_line(done)
        due_eval = self.eval_every and done % self.eval_every == 0 and done != self.steps
        due_save = self.checkpoint_every and done % self.checkpoint_every == 0 and done != self.steps
        due_probe = self.probe is not None and done == self.probe_at
        if not (due_eval or due_save or due_probe or stop):
            return
        with self.clock.paused():
            if due_probe:
                self.probe(done)
            if due_eval:
                self.logger.scalars(self.evaluate(done), done)
            if due_save or stop:
                self._check_weights(done, self.last_good)
                self.last_good = self.save(done, self.clock.seconds)
        if stop:
            self.bar.close()
            signum = received[0] if received else None
            raise Interrupted(f"stopped by {stop} after step {done}", signum, done, self.last_values)

    def end(self) -> float:
        """The training seconds so far; the bar closes."""
        self.bar.close()
        return self.clock.read()

    def _log(self, values: dict[str, float], done: int, last_good: str | None, bar: tqdm) -> None:
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLoss(
                f"{bad[0]}={values[bad[0]]} by step {done}; last good checkpoint: {last_good or 'none'}; "
                f"lower optim.lr or the adversarial weight"
            )
        self.last_values = values
        self.logger.scalars({**values, "lr": self.method.learning_rate()}, done)
        bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items()}, refresh=False)

    def _progress_line(self, done: int) -> None:
        """What the bar shows, as one plain log line: for logs and pipes, which a bar floods."""
        rate = (done - self._start_step) / max(time.perf_counter() - self._started, 1e-9)
        values = " ".join(f"{k} {v:.3g}" for k, v in (self.last_values or {}).items())
        log.info(
            "%sstep %d/%d (%d%%) %s | %.1f steps/s",
            f"{self.name}: " if self.name else "",
            done,
            self.steps,
            100 * done // self.steps,
            values,
            rate,
        )

    def _check_weights(self, done: int, last_good: str | None) -> None:
        for name, p in self.method.named_parameters():
            if not torch.isfinite(p).all():
                raise NonFiniteLoss(
                    f"weight {name} is not finite at step {done}; "
                    f"last good checkpoint: {last_good or 'none'}; lower optim.lr"
                )
