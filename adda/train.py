"""``adda-train``: compose the config, build every part by name, fit, assess, write.

Each run folder gets ``.hydra/`` (the composed config), ``tb/`` (TensorBoard), ``metrics.json``
(:mod:`adda.record`: running, done, failed or interrupted) and ``checkpoint.pt``.  From Python,
:func:`run_config` does the same and returns the metrics.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import hydra
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from adda import checkpoint, run_folder, scheduler
from adda.analysis import TEST_SETS, Analysis
from adda.config import CONF_DIR, check_config
from adda.data import BatchStream, DomainData, FileStream, StreamedDomain, build_domains, load_splits
from adda.data.domain import data_workers
from adda.errors import AddaError, ConfigError
from adda.evaluate import Predictions, evaluate
from adda.fit import Clock, Interrupted, Loop, stop_reason, stop_signals
from adda.graphs import GraphedSteps
from adda.methods import Method
from adda.models.backbones import normalize_input
from adda.record import RunRecord
from adda.registry import BACKBONES, DISCRIMINATORS, METHODS
from adda.runtime import autocast, resolve_device, seed_everything
from adda.selection import Selection
from adda.stacking import cannot_stack, group
from adda.tensorboard_logger import TensorBoardLogger
from adda.validators import score_model

log = logging.getLogger(__name__)
DIRNAME_LIMIT = 120


def run_dirname(overrides: str) -> str:
    """A sweep run's folder name from its overrides (``adda/conf/train.yaml``: ``hydra.sweep.subdir``).

    Long override lists are cut, with a hash of the whole list to keep names unique, so they stay
    under the file system's 255-byte limit; ``.hydra/overrides.yaml`` keeps every override.
    """
    if len(overrides) <= DIRNAME_LIMIT:
        return overrides
    digest = hashlib.sha1(overrides.encode()).hexdigest()[:8]
    return f"{overrides[: DIRNAME_LIMIT - 11]}...{digest}"


OmegaConf.register_new_resolver("adda_dirname", run_dirname, replace=True)


def build_method(cfg: DictConfig, device: torch.device, num_classes: int = 10) -> Method:
    """Backbone (one output per class of the data; ``backbone.input_norm`` in front), discriminator
    (on the tap it names, only for a method that plays a domain game) and method, by registry name."""
    given = cfg.backbone.get("num_classes")
    if given is not None and given != num_classes:
        raise ConfigError(
            f"backbone.num_classes={given}: the data has {num_classes} classes; leave it out (it "
            f"follows the data) or give {num_classes}"
        )
    backbone_cfg = {
        k: v
        for k, v in OmegaConf.to_container(cfg.backbone, resolve=True).items()
        if k not in ("num_classes", "input_norm")
    }
    backbone = BACKBONES.build(
        backbone_cfg, at="backbone", image_size=cfg.data.image_size, num_classes=num_classes
    )
    normalize_input(backbone, cfg.backbone.get("input_norm"))
    backbone.load_weights(download=cfg.data.download)
    backbone = backbone.to(device)
    method_cfg = OmegaConf.to_container(cfg.method, resolve=True)
    method_cls = METHODS.get(method_cfg["name"])
    discriminator = None
    if method_cls.needs_discriminator(method_cfg):
        taps = backbone.tap_shapes(cfg.data.image_size)
        tap = cfg.discriminator.get("tap", "features")
        if tap not in taps:
            raise ConfigError(
                f"discriminator.tap={tap!r}: backbone {cfg.backbone.name!r} has taps {', '.join(taps)}"
            )
        in_shape = method_cls.discriminator_shape(taps[tap], backbone.num_classes, method_cfg)
        discriminator = DISCRIMINATORS.build(cfg.discriminator, at="discriminator", in_shape=in_shape)
        discriminator = discriminator.to(device)
    method = METHODS.build(
        method_cfg,
        at="method",
        backbone=backbone,
        discriminator=discriminator,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        steps=cfg.trainer.steps,
    ).to(device)
    if cfg.trainer.get("channels_last"):  # NHWC convolutions: about 1.3x faster seed-CNN steps on CPU
        method.to(memory_format=torch.channels_last)
    if cfg.trainer.get("compile"):
        for module in method.compilable():
            module.compile()  # in place: parameter names, and so checkpoints, stay the same
    return method


def batch_streams(
    data: DomainData, cfg: DictConfig, device: torch.device
) -> dict[str, BatchStream | FileStream]:
    """Source and target batches, each from its own generator seeded from ``seed``; a streamed
    domain's order and augmentation come from that seed too (:class:`adda.data.stream.EpochBatches`)."""
    streams: dict[str, BatchStream | FileStream] = {}
    for i, (name, domain) in enumerate((("source", data.source), ("target", data.target))):
        generator, size = torch.Generator(device).manual_seed(cfg.seed + i), cfg.trainer.batch_size
        if isinstance(domain, StreamedDomain):
            streams[name] = FileStream(domain, size, generator, cfg.seed + i, data_workers(cfg.data.workers))
        else:
            streams[name] = BatchStream(domain, size, generator)
    return streams


KEY_HPARAMS = ("method.name", "target.name", "source.name", "seed", "optim.lr")
NOT_HPARAMS = ("hydra", "data.root", "device", "trainer.progress", "trainer.resume")
HPARAM_METRICS = ("source_acc", "target_acc", "gap", "source_val_acc")


def hparams(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The run's key knobs plus every key its command line set, for TensorBoard's HParams tab.

    Within a sweep the swept keys become the table's columns; constants stay out of the way.  A
    group choice (``method=adda``) appears as that group's ``name``.
    """
    keys = list(KEY_HPARAMS)
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith(NOT_HPARAMS) or "/" in key:
            continue
        node = OmegaConf.select(cfg, key)
        key = f"{key}.name" if isinstance(node, DictConfig) and "name" in node else key
        if key not in keys:
            keys.append(key)
    values = {k: OmegaConf.select(cfg, k) for k in keys}
    return {
        k: OmegaConf.to_container(v) if isinstance(v, ListConfig) else v
        for k, v in values.items()
        if v is not None
    }


def log_samples(board: TensorBoardLogger, data: DomainData, n: int, seed: int) -> None:
    """The first ``n`` training images of each domain (all of a smaller one) as the network sees them."""
    device = data.source.device
    preview = torch.Generator(device).manual_seed(seed)
    for name, domain in (("source", data.source), ("target", data.target)):
        board.images(
            f"samples/{name}", domain.render(torch.arange(min(n, len(domain)), device=device), preview)
        )


class Assessor:
    """Scores the model on the fixed sets at a step: accuracies and label-free validator scores
    (as TensorBoard tags), offering it to ``selection``; ``last`` keeps the latest of each."""

    def __init__(
        self, method: Method, data: DomainData, trainer: DictConfig, selection: Selection, analysis: Analysis
    ) -> None:
        self.method, self.evals, self.trainer, self.selection = method, data.evals, trainer, selection
        self.analysis = analysis
        self.validators = list(
            dict.fromkeys([*trainer.validators, *([trainer.select] if trainer.select else [])])
        )
        self.last: dict[str, dict[str, float]] = {}
        self.preds: dict[str, Predictions] = {}

    def __call__(self, step: int) -> dict[str, float]:
        trainer = self.trainer
        scores, valid, preds = score_model(
            self.method, self.evals, self.validators, trainer.eval_batch_size, trainer.precision
        )
        self.selection.offer(step, valid, scores, self.method)
        self.analysis.at_evaluation(preds, self.evals, step)
        self.last.update(scores=scores, validators=valid)
        self.preds = preds
        return {f"acc/{k}": v for k, v in scores.items()} | {f"validator/{k}": v for k, v in valid.items()}

    def before_adaptation(self, step: int) -> None:
        """The test sets' features where adaptation begins, for the A-distance before it."""
        tests = {name: self.evals[name] for name in TEST_SETS}
        with self.analysis.clock():
            _, preds = evaluate(self.method, tests, self.trainer.eval_batch_size, self.trainer.precision)
        self.analysis.before_adaptation(preds, step)


def results(
    cfg: DictConfig, method: Method, assessor: Assessor, data: DomainData, seconds: float, analysis: dict
) -> dict:
    """What ``metrics.json`` keeps of a finished run (``analysis``: :meth:`Analysis.final`'s)."""
    scores, steps = assessor.last["scores"], cfg.trainer.steps
    return {
        "uses_target_labels": method.uses_target_labels,
        "source_acc": scores["source_test_acc"],
        "target_acc": scores["target_test_acc"],
        "gap": scores["source_test_acc"] - scores["target_test_acc"],
        "source_val_acc": scores["source_val_acc"],
        "domain_acc": scores.get("domain_acc"),
        "validators": assessor.last["validators"],
        "selected": assessor.selection.best,
        "target_test_sha256": data.evals["target_test"].sha256(),
        "protocol": "transductive" if data.transductive else "inductive",
        "steps": steps,
        "seconds": round(seconds, 2),
        "source_images_per_s": round(steps * cfg.trainer.batch_size / max(seconds, 1e-9), 1),
        "device": str(next(method.parameters()).device),
        "seed": cfg.seed,
        "objective": cfg.objective,
        **analysis,
    }


def run(cfg: DictConfig, out_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train and evaluate one configuration, or resume one, writing everything into its folder
    (``trainer.resume``: :mod:`adda.run_folder`); a run that is already done is left as it is.

    ``overrides``: the command line's, for HParams and for checking a resume against them.
    """
    check_config(cfg)
    run_dir = run_folder.folder(cfg, out_dir)
    with run_folder.exclusive(run_dir):
        start = run_folder.plan(cfg, run_dir, overrides)
        if start.done is not None:
            say_done(run_dir, start.done)
            return start.done
        return train(start.cfg, run_dir, start.state, overrides)


class Session:
    """One run, from its built parts to its written results: :func:`train` drives one, and
    :func:`train_stacked` several at once.

    Every part is built before ``metrics.json`` first says ``running``; from then on (inside
    ``with``) the run's record tells how it ended.  ``shared``: the (splits, data) of a run of
    the same data config, which stacked runs share.
    """

    def __init__(
        self,
        cfg: DictConfig,
        out_dir: Path,
        state: dict[str, Any] | None,
        overrides: Sequence[str] = (),
        shared: tuple[Any, DomainData] | None = None,
    ) -> None:
        self.cfg, self.out_dir, self.overrides, self.resumed = cfg, out_dir, overrides, state is not None
        self.deadline = scheduler.deadline(cfg.trainer.time_limit)
        splits = shared[0] if shared else load_splits(cfg)  # a folder set's classes are known from here
        seed_everything(cfg.seed)
        self.device = resolve_device(cfg.device)
        self.method = build_method(cfg, self.device, len(splits[0].classes))
        self.data = shared[1] if shared else build_domains(cfg, self.device, splits)
        self.shared = (splits, self.data)
        self.streams = batch_streams(self.data, cfg, self.device)
        self.start, self.seconds = (state["step"], state["seconds"]) if state else (0, 0.0)
        if state is not None:
            checkpoint.restore(state, self.method, self.streams)
        # After the restore: the graphs read the optimisers' learning rates as tensors.
        self.train_step = GraphedSteps(self.method) if cfg.trainer.get("cuda_graph") else None
        self.config = OmegaConf.to_container(cfg, resolve=True)
        self.before_save: Callable[[], None] | None = None  # stacked runs: their optimiser rows first

    def __enter__(self) -> Session:
        cfg, trainer, out_dir = self.cfg, self.cfg.trainer, self.out_dir
        log.info(
            "%s on %s, steps %d..%d, writing to %s",
            cfg.method.name,
            self.device,
            self.start,
            trainer.steps,
            out_dir,
        )
        self._context = ExitStack()
        with self._context as context:
            self.record = context.enter_context(RunRecord(out_dir, cfg.method.name).watch())
            self.board = context.enter_context(
                TensorBoardLogger(out_dir / "tb", purge_step=self.start or None)
            )
            context.enter_context(closing_all(self.streams.values()))
            self.record.running(self.start)
            if not self.start:
                log_samples(self.board, self.data, trainer.preview_images, cfg.seed)
            analysis = Analysis(
                out_dir,
                self.board,
                self.data.classes,
                trainer.embed_samples,
                trainer.embed_every,
                self.resumed,
            )
            selection = Selection(out_dir, trainer.select, resume=self.resumed)
            self.analysis, self.assess = (
                analysis,
                Assessor(self.method, self.data, trainer, selection, analysis),
            )
            adapt = self.method.adaptation_start
            if self.start == adapt == 0:
                self.assess.before_adaptation(0)
            self.loop = Loop(
                self.method,
                self.streams["source"],
                self.streams["target"],
                self.board,
                trainer.steps,
                log_every=trainer.log_every,
                eval_every=trainer.eval_every,
                checkpoint_every=trainer.checkpoint_every,
                evaluate=self.assess,
                save=lambda step, secs: str(self.save(step, secs)),
                progress=trainer.progress,
                precision=trainer.precision,
                probe=self.assess.before_adaptation if self.start < adapt else None,
                probe_at=adapt,
                deadline=self.deadline,
                train_step=self.train_step,
            )
            self._context = context.pop_all()  # entered: from now on __exit__ closes them
        return self

    def __exit__(self, *exc: Any) -> bool:
        return self._context.__exit__(*exc)

    def save(self, step: int, seconds: float) -> Path:
        if self.before_save is not None:
            self.before_save()
        return checkpoint.save(self.out_dir, self.method, self.streams, step, seconds, self.config)

    def finish(self, seconds: float) -> dict[str, Any]:
        """The last evaluation, checkpoint and results of a run trained to its last step."""
        cfg, steps = self.cfg, self.cfg.trainer.steps
        self.board.scalars(self.assess(steps), steps)
        self.save(steps, seconds)
        final = self.analysis.final(self.assess.preds, self.data.evals, steps)
        metrics = self.record.done(results(cfg, self.method, self.assess, self.data, seconds, final))
        self.board.hparams(hparams(cfg, self.overrides), {k: metrics[k] for k in HPARAM_METRICS})
        return metrics


def say_done(run_dir: Path, done: dict[str, Any]) -> None:
    acc = done.get("target_acc")
    acc = f"{acc:.4f}" if isinstance(acc, float) else "unknown"
    log.info("%s is done (target_acc %s): nothing to do, its results stand", run_dir, acc)


def train(
    cfg: DictConfig, out_dir: Path, state: dict[str, Any] | None, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Fit from step 0, or from the checkpoint ``state``, then assess and write the results."""
    return train_alone(Session(cfg, out_dir, state, overrides))


def train_alone(session: Session) -> dict[str, Any]:
    with session, stop_signals() as received:  # one arriving in the last evaluation waits for it
        metrics = session.finish(session.loop.run(session.start, session.seconds))
    say_how_it_went(metrics, session.method, session.cfg, session.out_dir)
    if received:
        raise stopped_once_written(received, session.cfg.trainer.steps)
    return metrics


def stopped_once_written(received: list[int], steps: int) -> Interrupted:
    """A stop signal that arrived while finished runs were assessed and written: honoured after
    their results, so that stopping a run at its end never leaves it half-recorded."""
    return Interrupted(
        f"stopped by signal {received[0]} once the results were written", received[0], steps, None
    )


def train_stacked(
    sessions: Sequence[Session], compute: str = "auto", workers: int | str = "auto"
) -> list[dict[str, Any] | Exception]:
    """Train ``sessions`` (one config but the seed, all at the same step) as one group, computed
    ``compute`` (:func:`adda.stacking.group`); each run is assessed, checkpointed and written as if
    alone.  A run that fails (a NaN) ends failed and the others go on; a stop signal or the time
    limit checkpoints them all.  Returns each run's metrics, or the error it ended with."""
    stack = group([s.method for s in sessions], compute, workers)
    log.info("%d runs of %s train stacked (%s)", len(sessions), sessions[0].cfg.method.name, stack)
    try:
        return _train_group(sessions, stack)
    finally:
        stack.close()


def _train_group(sessions: Sequence[Session], stack) -> list[dict[str, Any] | Exception]:
    outcomes: list[dict[str, Any] | Exception | None] = [None] * len(sessions)
    active: list[int] = []
    for k, session in enumerate(sessions):
        session.before_save = lambda k=k: stack.export_optimizer_states(k)
        try:
            session.__enter__()
        except Exception as err:
            outcomes[k] = err
            continue
        session.loop.name = session.out_dir.name
        active.append(k)
    start, steps = sessions[0].start, sessions[0].cfg.trainer.steps
    clocks = [Clock(s.seconds) for s in sessions]

    def end(k: int, err: Exception) -> None:
        outcomes[k] = err
        sessions[k].__exit__(type(err), err, err.__traceback__)
        active.remove(k)

    with stop_signals() as received:
        for k in active:
            sessions[k].loop.begin(start, clocks[k])
        for step in range(start, steps):
            if not active:
                break
            batches = [sessions[k].loop.draw() if k in active else None for k in range(len(sessions))]
            try:
                with autocast(sessions[0].device, sessions[0].cfg.trainer.precision):
                    metrics = stack.train_step(batches, step)
            except Exception as err:  # the shared step failed: every run ends with its error
                for k in list(active):
                    end(k, err)
                break
            stop = stop_reason(received, sessions[0].deadline)
            with ExitStack() as paused:  # one run's evaluation is no other run's training time
                for k in active:
                    paused.enter_context(clocks[k].paused())
                for k in list(active):
                    try:
                        sessions[k].loop.after_step(step + 1, metrics[k], stop, received)
                    except Exception as err:
                        end(k, err)
        seconds = {k: sessions[k].loop.end() for k in active}  # before any run's final evaluation
        for k in list(active):
            try:
                outcomes[k] = sessions[k].finish(seconds[k])
            except Exception as err:
                end(k, err)
            else:
                sessions[k].__exit__(None, None, None)
                active.remove(k)
                say_how_it_went(outcomes[k], sessions[k].method, sessions[k].cfg, sessions[k].out_dir)
    if received:
        stop = stopped_once_written(received, steps)
        return [stop if isinstance(o, dict) else o for o in outcomes]
    return outcomes


def run_group(
    jobs: Sequence[tuple[DictConfig, Path, Sequence[str]]],
    max_stack: int,
    compute: str = "auto",
    workers: int | str = "auto",
) -> list[float]:
    """A sweep's jobs of one config but the seed (``hydra/launcher=stacked``): each is planned as
    :func:`run` plans one (a done run is left alone, a stopped one resumes), and those at the same
    step train stacked, up to ``max_stack`` at a time.  A method that cannot stack says why in one
    line and its runs train one after another.  Returns each job's objective (NaN: it failed)."""
    values: list[float] = [float("nan")] * len(jobs)
    pending: dict[int, list[tuple[int, DictConfig, Path, dict[str, Any] | None, Sequence[str]]]] = {}
    with ExitStack() as locks:
        for i, (cfg, out_dir, overrides) in enumerate(jobs):
            try:
                check_config(cfg)
                run_dir = run_folder.folder(cfg, out_dir)
                locks.enter_context(run_folder.exclusive(run_dir))
                start = run_folder.plan(cfg, run_dir, overrides)
            except Exception as err:
                values[i] = end_of(err, cfg, out_dir, sweeping=True)
                continue
            if start.done is not None:
                say_done(run_dir, start.done)
                values[i] = start.done[cfg.objective]
                continue
            step = start.state["step"] if start.state else 0
            pending.setdefault(step, []).append((i, start.cfg, run_dir, start.state, overrides))
        for same_step in pending.values():
            for j in range(0, len(same_step), max_stack):
                for i, value in _train_chunk(same_step[j : j + max_stack], jobs, compute, workers):
                    values[i] = value
    return values


def _train_chunk(chunk, jobs, compute: str, workers: int | str) -> Iterator[tuple[int, float]]:
    """Build a chunk's sessions (sharing their data) and train them stacked, or alone if they cannot stack."""
    sessions: list[tuple[int, Session]] = []
    shared = None
    for i, cfg, run_dir, state, overrides in chunk:
        try:
            session = Session(cfg, run_dir, state, overrides, shared)
        except Exception as err:
            yield i, end_of(err, cfg, jobs[i][1], sweeping=True)
            continue
        shared = session.shared
        sessions.append((i, session))
    if not sessions:
        return
    why = "one run" if len(sessions) == 1 else cannot_stack(sessions[0][1].method)
    if len(sessions) > 1 and sessions[0][1].train_step is not None:
        why = "trainer.cuda_graph=true replays each run's own step"
    if why is not None:
        if len(sessions) > 1:
            log.info(
                "%d runs of %s train one after another, not stacked: %s",
                len(sessions),
                sessions[0][1].cfg.method.name,
                why,
            )
        outcomes = []
        for _, session in sessions:
            try:
                outcomes.append(train_alone(session))
            except Interrupted as err:  # the runs not begun stay so, as a stacked group's would
                outcomes += [err] * (len(sessions) - len(outcomes))
                break
            except Exception as err:
                outcomes.append(err)
    else:
        outcomes = train_stacked([s for _, s in sessions], compute, workers)
    interrupted = None
    for (i, session), outcome in zip(sessions, outcomes, strict=True):
        if isinstance(outcome, Interrupted):
            interrupted = interrupted or (outcome, session, i)
        elif isinstance(outcome, Exception):
            yield i, end_of(outcome, session.cfg, session.out_dir, sweeping=True)
        else:
            yield i, outcome[session.cfg.objective]
    if interrupted is not None:  # all of the chunk stopped: each recorded, then one exit
        err, session, i = interrupted
        yield i, end_of(err, session.cfg, session.out_dir, sweeping=True)


@contextmanager
def closing_all(things: Iterable[Any]) -> Iterator[None]:
    """Closes each (a streamed domain's worker processes) however the block ends."""
    try:
        yield
    finally:
        for thing in things:
            thing.close()


def say_how_it_went(metrics: dict[str, Any], method: Method, cfg: DictConfig, out_dir: Path) -> None:
    """The run's numbers and folder in one line; a warning when the classifier did not learn."""
    log.info(
        "source_acc %.4f  target_acc %.4f  gap %.4f  (%.0f s, %.0f source images/s); wrote %s",
        metrics["source_acc"],
        metrics["target_acc"],
        metrics["gap"],
        metrics["seconds"],
        metrics["source_images_per_s"],
        out_dir,
    )
    classes = method.backbone.num_classes
    if metrics["source_val_acc"] < 2 / classes:  # too few steps, or an adversarial term that won
        conf = Path(CONF_DIR) / "method" / f"{cfg.method.name}.yaml"
        log.warning(
            "source validation accuracy %.2f is near chance (1/%d): the classifier did not learn; train "
            "longer, or lower the adversarial weight (%s says how it was chosen)",
            metrics["source_val_acc"],
            classes,
            conf if conf.exists() else "the method's config",
        )


def discard_unstarted(out_dir: Path) -> None:
    """A run rejected before any work leaves no folder behind (Hydra made it before the checks):
    only its config and log are there, never results."""
    ours = (".hydra", run_folder.LOCK)
    if out_dir.is_dir() and all(p.name in ours or p.suffix == ".log" for p in out_dir.iterdir()):
        shutil.rmtree(out_dir, ignore_errors=True)


def end_of(err: BaseException, cfg: DictConfig, out_dir: Path, sweeping: bool) -> float:
    """The one place a run's failure is handled: one line (exit 2) for an error the user can fix,
    the resume command after a signal; in a sweep no failure stops the other runs, whose sweeper
    gets NaN (Optuna marks the trial failed) and whose folder records the error."""
    if isinstance(err, Interrupted):
        run_dir = run_folder.folder(cfg, out_dir)
        if (RunRecord(run_dir, None).read() or {}).get("status") == "done":
            log.warning("%s: the run is done, its results stand in %s", err, run_dir)
            sys.exit(128 + (err.signum or 0))
        requeue = scheduler.requeue_handler()
        if requeue is not None and err.signum in (signal.SIGUSR2, None):
            log.warning("%s; checkpoint written: SLURM requeues the run, which then resumes", err)
            requeue(signal.SIGUSR2, None)  # submitit's: requeues the job and exits
        by_slurm = " (a job SLURM requeues resumes by itself)" if os.environ.get("SLURM_JOB_ID") else ""
        log.error("interrupted: %s; resume with: adda-train trainer.resume=%s%s", err, run_dir, by_slurm)
        if err.signum is None and sweeping:
            return float("nan")  # out of time: the sweep goes on, and a re-run resumes this one
        sys.exit(124 if err.signum is None else 128 + err.signum)
    if isinstance(err, AddaError):
        log.error("error: %s", err)
    elif sweeping:
        log.exception("run failed; the sweep goes on")
    else:
        raise err
    if not getattr(err, "recorded", False):  # rejected before its record began
        if sweeping:
            message = str(err) if isinstance(err, AddaError) else f"{type(err).__name__}: {err}"
            RunRecord(out_dir, cfg.method.get("name")).failed(message)
        else:
            discard_unstarted(out_dir)
    if not sweeping:
        sys.exit(2)
    return float("nan")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.objective`` of the run (what a sweeper maximises)."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        return run(cfg, out_dir, hydra_cfg.overrides.task)[cfg.objective]
    except Exception as err:
        return end_of(err, cfg, out_dir, sweeping=hydra_cfg.mode == RunMode.MULTIRUN)


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config ``adda-train <overrides>`` would run, through Hydra's compose API."""
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with hydra.initialize_config_dir(CONF_DIR, version_base="1.3"):
        return hydra.compose(config_name, overrides=list(overrides))


def run_config(overrides: Sequence[str] = (), out_dir: str | Path | None = None) -> dict[str, Any]:
    """Train one configuration from Python (a notebook, a script) as ``adda-train`` would.

    ``overrides``: ``adda-train``'s command-line overrides; ``out_dir``: the run folder (default
    ``outputs/runs/<time>_<method>``), laid out as ``adda-train``'s, so ``adda-report`` reads it.
    Returns the metrics that ``metrics.json`` holds; a folder that already holds this config's
    finished run is left alone and its metrics returned (``trainer.resume=auto``, the default;
    ``trainer.resume=false`` trains afresh).  Errors are raised (:class:`AddaError` for
    the ones the user can fix), after the run's record says how it ended.
    """
    cfg = compose(overrides)
    check_config(cfg)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(out_dir) if out_dir is not None else Path("outputs/runs") / f"{stamp}_{cfg.method.name}"
    (out / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
    (out / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    return run(cfg, out, overrides)


if __name__ == "__main__":
    main()
