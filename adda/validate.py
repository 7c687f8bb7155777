"""Checks on the composed config before any work starts: one line per problem, naming the fix.

Hydra already rejects unknown groups and keys; this catches wrong types and out-of-range values
(``optim.lr=0``, ``trainer.batch_size=abc``) that would otherwise fail deep inside training.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adda import validators  # noqa: F401  (registers the validators the rules below name)
from adda.errors import ConfigError
from adda.registry import VALIDATORS
from adda.runtime import PRECISIONS


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


Rule = tuple[Callable[[Any], bool], str]
POSITIVE_INT: Rule = (lambda v: _int(v) and v > 0, "an integer > 0")
NON_NEGATIVE_INT: Rule = (lambda v: _int(v) and v >= 0, "an integer >= 0 (0 turns it off)")
POSITIVE: Rule = (lambda v: _num(v) and v > 0, "a number > 0")
NON_NEGATIVE: Rule = (lambda v: _num(v) and v >= 0, "a number >= 0")
UNIT: Rule = (lambda v: _num(v) and 0 <= v <= 1, "a number in [0, 1]")
BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
INT: Rule = (_int, "an integer")
DEVICE: Rule = (
    lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None,
    "auto, cpu, cuda or cuda:N",
)

# Metrics a sweeper may maximise; only target_acc reads target labels.
OBJECTIVES = ("source_val_acc", "source_acc", "target_acc")

RULES: dict[str, Rule] = {
    "seed": INT,
    "objective": (lambda v: v in OBJECTIVES, " or ".join(OBJECTIVES)),
    "device": DEVICE,
    "data.image_size": (lambda v: _int(v) and v >= 8, "an integer >= 8"),
    "data.download": BOOL,
    "data.verify": BOOL,
    "data.eval_limit": (lambda v: v is None or (_int(v) and v > 0), "null or an integer > 0"),
    "trainer.steps": POSITIVE_INT,
    "trainer.batch_size": POSITIVE_INT,
    "trainer.log_every": POSITIVE_INT,
    "trainer.eval_every": NON_NEGATIVE_INT,
    "trainer.checkpoint_every": NON_NEGATIVE_INT,
    "trainer.eval_batch_size": (lambda v: v == "auto" or POSITIVE_INT[0](v), "auto or an integer > 0"),
    "trainer.preview_images": POSITIVE_INT,
    "trainer.progress": BOOL,
    "trainer.channels_last": BOOL,
    "trainer.compile": BOOL,
    "trainer.precision": (lambda v: v in PRECISIONS, " or ".join(PRECISIONS)),
    "trainer.validators": (
        lambda v: isinstance(v, list) and all(n in VALIDATORS for n in v),
        f"a list of validators among {', '.join(VALIDATORS.names())}",
    ),
    "trainer.select": (
        lambda v: v is None or v in VALIDATORS,
        f"null or one of {', '.join(VALIDATORS.names())}",
    ),
    "trainer.validation_samples": POSITIVE_INT,
    "optim.lr": POSITIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.decay_gamma": POSITIVE,
    "optim.betas": (
        lambda v: isinstance(v, list) and len(v) == 2 and all(_num(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1)",
    ),
    "optim.decay_at": (
        lambda v: isinstance(v, list) and all(UNIT[0](f) for f in v),
        "a list of fractions in [0, 1]",
    ),
    "target.test_seed": INT,
    "preview.images": POSITIVE_INT,
    "preview.cols": POSITIVE_INT,
    "method.weight": NON_NEGATIVE,
    "method.k_classifier": POSITIVE_INT,
    "method.k_discriminator": POSITIVE_INT,
    "method.adapt_lr": POSITIVE,
    "method.temperature": POSITIVE,
    "method.radius": POSITIVE,
    "method.xi": POSITIVE,
    "method.source_vat": NON_NEGATIVE,
    "method.target_weight": NON_NEGATIVE,
}
# Keys that are probabilities or fractions wherever they appear (transforms included).
UNIT_KEYS = {
    "p",
    "prob",
    "probability",
    "threshold",
    "pretrain_fraction",
    "start_fraction",
    "teacher_momentum",
    "min_domain_acc",
}


def _walk(node: Any, prefix: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}[{i}]")
    yield prefix, node


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first value of the wrong type or out of range."""
    try:
        flat = dict(_walk(OmegaConf.to_container(cfg, resolve=True)))
    except Exception as err:  # an interpolation that cannot resolve, e.g. a missing env var
        raise ConfigError(f"config does not resolve: {str(err).splitlines()[0]}") from err
    for key, (ok, allowed) in RULES.items():
        if key in flat and not ok(flat[key]):
            raise ConfigError(f"{key}={flat[key]!r}: must be {allowed}")
    for key, value in flat.items():
        if key.rsplit(".", 1)[-1] in UNIT_KEYS and not UNIT[0](value):
            raise ConfigError(f"{key}={value!r}: must be {UNIT[1]}")
