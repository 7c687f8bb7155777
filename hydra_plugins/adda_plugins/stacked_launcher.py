"""``hydra/launcher=stacked``: a sweep's runs of one config but the seed trained as one stacked model.

Hydra prepares each job as its basic launcher does (folder, ``.hydra/``, log file), through
:func:`hydra.core.utils.run_job`; the jobs whose overrides differ only in ``seed`` then train
together (:func:`adda.train.run_group`), at most ``max_stack`` at a time, and each still gets its
own results.  The other jobs form groups of their own.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

# The keys whose values may differ within a stacked group, besides the scalar knobs a method reads
# per run (its ``stacked_knobs``, such as grl's ``method.weight``): they change no shape and no
# host-side decision.
STACKABLE_KEYS = ("seed",)


@dataclass
class StackedLauncherConf:
    _target_: str = "hydra_plugins.adda_plugins.stacked_launcher.StackedLauncher"
    max_stack: int = 16  # most runs trained as one model (memory grows with it)
    compute: str = "auto"  # batched (vmap), lockstep (each run its own kernels); auto: batched on a GPU
    # lockstep: runs stepped at once on threads, one CPU thread each (auto: torch's CPU threads)
    workers: Any = "auto"


ConfigStore.instance().store(
    group="hydra/launcher", name="stacked", node=StackedLauncherConf, provider="adda"
)


def stacking_key(overrides: Sequence[str], knobs: Sequence[str] = ()) -> tuple[str, ...]:
    """What a job's overrides say but for the keys a stacked group may vary (``knobs``: its
    method's ``stacked_knobs``)."""
    free = {*STACKABLE_KEYS, *(f"method.{k}" for k in knobs)}
    return tuple(sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in free))


def method_knobs(cfg: DictConfig) -> tuple[str, ...]:
    """The ``stacked_knobs`` of the method a job's config names (none for a name not registered:
    its run then fails with the registry's own one-line error)."""
    import adda.methods  # noqa: F401 (registers the methods)
    from adda.registry import METHODS

    name = OmegaConf.select(cfg, "method.name")
    return METHODS.get(name).stacked_knobs if name in METHODS.names() else ()


def prepared(cfg: DictConfig) -> tuple[DictConfig, Path, list[str]]:
    """The task function each job is 'run' with: it returns what the group needs to train it."""
    hydra_cfg = HydraConfig.get()
    return cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)


class StackedLauncher(Launcher):
    def __init__(self, max_stack: int = 16, compute: str = "auto", workers: int | str = "auto") -> None:
        from adda.stacking import check_way  # the package, imported only when this launcher runs

        super().__init__()
        if not isinstance(max_stack, int) or max_stack < 1:
            raise ValueError(f"hydra.launcher.max_stack={max_stack!r}: give a whole number >= 1")
        check_way(compute, workers, prefix="hydra.launcher.")
        self.max_stack, self.compute, self.workers = max_stack, compute, workers
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from adda.train import run_group  # the package, imported only when this launcher runs

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs, groups = [], {}
        for i, overrides in enumerate(job_overrides):
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = initial_job_idx + i
                sweep_config.hydra.job.num = initial_job_idx + i
            configs.append(sweep_config)
            groups.setdefault(stacking_key(overrides, method_knobs(sweep_config)), []).append(i)
        log.info(
            "Launching %d jobs in %d stacked groups (max_stack %d)",
            len(job_overrides),
            len(groups),
            self.max_stack,
        )
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        for members in groups.values():
            jobs: list[tuple[DictConfig, Path, list[str]]] = []
            for i in members:
                log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])))
                returns[i] = run_job(
                    hydra_context=self.hydra_context,
                    task_function=prepared,
                    config=configs[i],
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
                jobs.append(returns[i].return_value)
            with each_log_file([out / f"{self.config.hydra.job.name}.log" for _, out, _ in jobs]):
                values = run_group(jobs, self.max_stack, self.compute, self.workers)
            for i, value in zip(members, values, strict=True):
                returns[i].return_value, returns[i].status = value, JobStatus.COMPLETED
        return returns


@contextmanager
def each_log_file(paths: Sequence[Path]) -> Iterator[None]:
    """While inside, the root logger also writes to each job's log file (run_job pointed it at
    the last one prepared): each run's log has the group's lines, its own among them."""
    root = logging.getLogger()
    existing = {getattr(h, "baseFilename", None) for h in root.handlers}
    template = next((h for h in root.handlers if isinstance(h, logging.FileHandler)), None)
    handlers = [logging.FileHandler(p) for p in paths if str(p.resolve()) not in existing]
    for h in handlers:
        if template is not None:
            h.setFormatter(template.formatter)
            h.setLevel(template.level)
        root.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
