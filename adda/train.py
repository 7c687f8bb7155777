"""``adda-train``: compose the config, build every part by name, fit, evaluate, write.

Each run folder gets ``.hydra/`` (the composed config), ``tb/`` (TensorBoard), ``metrics.json``
(written atomically; ``status`` is running, done or failed) and ``checkpoint.pt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from adda import checkpoint
from adda.data import BatchStream, build_domains
from adda.errors import AddaError, ConfigError
from adda.evaluate import evaluate
from adda.fit import Interrupted, Loop
from adda.logging import RunLogger
from adda.methods import Method
from adda.registry import BACKBONES, DISCRIMINATORS, METHODS
from adda.runtime import resolve_device, seed_everything, write_json
from adda.selection import Selection
from adda.validate import validate
from adda.validators import Outputs, score_all

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger(__name__)
DIRNAME_LIMIT = 120


def run_dirname(overrides: str) -> str:
    """A sweep run's folder name from its overrides (``conf/train.yaml``: ``hydra.sweep.subdir``).

    Long override lists are cut, with a hash of the whole list to keep names unique, so they stay
    under the file system's 255-byte limit; ``.hydra/overrides.yaml`` keeps every override.
    """
    if len(overrides) <= DIRNAME_LIMIT:
        return overrides
    digest = hashlib.sha1(overrides.encode()).hexdigest()[:8]
    return f"{overrides[: DIRNAME_LIMIT - 11]}...{digest}"


OmegaConf.register_new_resolver("adda_dirname", run_dirname, replace=True)


def build_method(cfg: DictConfig, device: torch.device) -> Method:
    """Backbone, discriminator (on the tap it names) and method, all by registry name."""
    backbone = BACKBONES.build(cfg.backbone, image_size=cfg.data.image_size).to(device)
    taps = backbone.tap_shapes(cfg.data.image_size)
    tap = cfg.discriminator.get("tap", "features")
    if tap not in taps:
        raise ConfigError(
            f"discriminator.tap={tap!r}: backbone {cfg.backbone.name!r} has taps {', '.join(taps)}"
        )
    method_cls, classes = METHODS.get(cfg.method.name), backbone.head.out_features
    in_shape = method_cls.discriminator_shape(taps[tap], classes, OmegaConf.to_container(cfg.method))
    discriminator = DISCRIMINATORS.build(cfg.discriminator, in_shape=in_shape).to(device)
    method = METHODS.build(
        cfg.method, backbone=backbone, discriminator=discriminator, optim=cfg.optim, steps=cfg.trainer.steps
    ).to(device)
    if cfg.trainer.get("channels_last"):  # NHWC convolutions: about 1.3x faster seed-CNN steps on CPU
        method.to(memory_format=torch.channels_last)
    if cfg.trainer.get("compile"):
        for module in method.compilable():
            module.compile()  # in place: parameter names, and so checkpoints, stay the same
    return method


KEY_HPARAMS = ("method.name", "target.name", "source.name", "seed", "optim.lr")
NOT_HPARAMS = ("hydra", "data.root", "device", "trainer.progress", "trainer.resume")


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


def resume_point(cfg: DictConfig, out_dir: Path) -> tuple[DictConfig, Path, dict[str, Any] | None]:
    """With ``trainer.resume=<run dir>``: that run's own config, folder and checkpoint."""
    if not cfg.trainer.get("resume"):
        return cfg, out_dir, None
    run_dir = Path(cfg.trainer.resume).expanduser()
    state = checkpoint.load(run_dir)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    log.info("resuming %s at step %d (its saved config is used)", run_dir, state["step"])
    return OmegaConf.create(state["config"]), run_dir, state


def run(cfg: DictConfig, out_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train and evaluate one configuration (or resume one), writing everything into its folder.

    ``overrides``: the command line's, whose keys the HParams entry lists.
    """
    validate(cfg)
    cfg, out_dir, state = resume_point(cfg, out_dir)
    trainer = cfg.trainer
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    method = build_method(cfg, device)
    data = build_domains(cfg, device)
    streams = {
        "source": BatchStream(data.source, trainer.batch_size, torch.Generator(device).manual_seed(cfg.seed)),
        "target": BatchStream(
            data.target, trainer.batch_size, torch.Generator(device).manual_seed(cfg.seed + 1)
        ),
    }
    start, seconds = 0, 0.0
    if state is not None:
        checkpoint.restore(state, method, streams)
        start, seconds = state["step"], state["seconds"]
    write_json(out_dir / "metrics.json", {"status": "running", "method": cfg.method.name, "step": start})

    logger = RunLogger(out_dir / "tb", purge_step=start or None)
    if not start:
        preview = torch.Generator(device).manual_seed(cfg.seed)
        idx = torch.arange(trainer.preview_images, device=device)
        logger.images("samples/source", data.source.render(idx, preview))
        logger.images("samples/target", data.target.render(idx, preview))
    config = OmegaConf.to_container(cfg, resolve=True)
    selection = Selection(out_dir, trainer.select, resume=state is not None)
    validators = list(dict.fromkeys([*trainer.validators, *([trainer.select] if trainer.select else [])]))
    last: dict[str, dict[str, float]] = {}

    def assess(step: int) -> dict[str, float]:
        """Accuracies and validator scores as TensorBoard tags; offers the model to ``selection``."""
        scores, preds = evaluate(method, data.evals, trainer.eval_batch_size, trainer.precision)
        valid = score_all(validators, Outputs.from_predictions(preds, data.evals["source_val"].labels))
        selection.offer(step, valid, scores, method)
        last.update(scores=scores, validators=valid)
        tags = {f"acc/{k}": v for k, v in scores.items()}
        return tags | {f"validator/{k}": v for k, v in valid.items()}

    loop = Loop(
        method,
        streams["source"],
        streams["target"],
        logger,
        trainer.steps,
        log_every=trainer.log_every,
        eval_every=trainer.eval_every,
        checkpoint_every=trainer.checkpoint_every,
        evaluate=assess,
        save=lambda step, secs: str(checkpoint.save(out_dir, method, streams, step, secs, config)),
        progress=trainer.progress,
        precision=trainer.precision,
    )
    log.info(
        "%s on %s: steps %d..%d, %d+%d images per step",
        cfg.method.name,
        device,
        start,
        trainer.steps,
        trainer.batch_size,
        trainer.batch_size if method.uses_target else 0,
    )
    try:
        seconds = loop.run(start, seconds)
        logger.scalars(assess(trainer.steps), trainer.steps)
        scores = last["scores"]
        metrics = {
            "status": "done",
            "method": cfg.method.name,
            "uses_target_labels": method.uses_target_labels,
            "source_acc": scores["source_test_acc"],
            "target_acc": scores["target_test_acc"],
            "gap": scores["source_test_acc"] - scores["target_test_acc"],
            "source_val_acc": scores["source_val_acc"],
            "domain_acc": scores.get("domain_acc"),
            "validators": last["validators"],
            "selected": selection.best,
            "steps": trainer.steps,
            "seconds": round(seconds, 2),
            "source_images_per_s": round(trainer.steps * trainer.batch_size / max(seconds, 1e-9), 1),
            "device": str(device),
            "seed": cfg.seed,
            "objective": cfg.objective,
        }
        checkpoint.save(out_dir, method, streams, trainer.steps, seconds, config)
        logger.hparams(
            hparams(cfg, overrides),
            {k: metrics[k] for k in ("source_acc", "target_acc", "gap", "source_val_acc")},
        )
    except Interrupted:
        write_json(
            out_dir / "metrics.json",
            {
                "status": "interrupted",
                "method": cfg.method.name,
                "step": loop.stopped_at,
                "last_train_metrics": loop.last_values,
                "resume": f"adda-train trainer.resume={out_dir}",
            },
        )
        raise
    except AddaError as err:
        write_json(
            out_dir / "metrics.json", {"status": "failed", "method": cfg.method.name, "error": str(err)}
        )
        raise
    finally:
        logger.close()
    write_json(out_dir / "metrics.json", metrics)
    log.info(
        "source_acc %.4f  target_acc %.4f  gap %.4f  (%.0f s, %.0f source images/s)",
        metrics["source_acc"],
        metrics["target_acc"],
        metrics["gap"],
        seconds,
        metrics["source_images_per_s"],
    )
    classes = method.backbone.head.out_features
    if metrics["source_val_acc"] < 2 / classes:  # too few steps, or an adversarial term that won
        log.warning(
            "source validation accuracy %.2f is near chance (1/%d): the classifier did not learn; train "
            "longer, or lower the adversarial weight (conf/method/%s.yaml says how it was chosen)",
            metrics["source_val_acc"],
            classes,
            cfg.method.name,
        )
    return metrics


def record_failure(out_dir: Path, cfg: DictConfig, error: str) -> None:
    """Mark the run failed in its ``metrics.json`` unless it already says how it ended."""
    metrics = out_dir / "metrics.json"
    if not metrics.exists() or json.loads(metrics.read_text()).get("status") == "running":
        write_json(metrics, {"status": "failed", "error": error, "method": cfg.method.get("name")})


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.objective`` of the run (what a sweeper maximises).

    User-fixable errors end as one line (exit 2 outside sweeps); an interrupted run leaves a
    checkpoint and says how to resume it.  Inside a sweep no failure stops the other runs: the
    run's folder records the error and the sweeper gets NaN (Optuna marks the trial failed).
    """
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return run(cfg, out_dir, HydraConfig.get().overrides.task)[cfg.objective]
    except Interrupted as err:
        log.error(
            "interrupted: %s; resume with: adda-train trainer.resume=%s",
            err,
            cfg.trainer.get("resume") or out_dir,
        )
        sys.exit(128 + err.signum)
    except AddaError as err:
        log.error("error: %s", err)
        record_failure(out_dir, cfg, str(err))
        if not sweeping:
            sys.exit(2)
        return float("nan")
    except Exception as err:
        if not sweeping:
            raise
        log.exception("run failed; the sweep goes on")
        record_failure(out_dir, cfg, f"{type(err).__name__}: {err}")
        return float("nan")


if __name__ == "__main__":
    main()
