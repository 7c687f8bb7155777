"""The packaged configs, and checks on the runner's own keys before any work starts.

Parts (methods, backbones, transforms, ...) check their own arguments when they are built
(:mod:`adda.checks`); this module checks only what the runner itself reads: ``seed``, ``device``,
``objective``, ``data.*``, ``trainer.*``, ``target.test_seed`` and ``preview.*``.  Each problem is
one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adda.checks import (
    check,
    flag,
    integer,
    is_int,
    is_number,
    non_negative_int,
    one_of,
    positive_int,
)
from adda.errors import ConfigError
from adda.registry import VALIDATORS
from adda.runtime import PRECISIONS

CONF_DIR = str(Path(__file__).resolve().parent / "conf")

# Metrics a sweeper may maximise; only target_acc reads target labels.
OBJECTIVES = ("source_val_acc", "source_acc", "target_acc")


def device_name(key: str, v: Any) -> str:
    valid = lambda x: isinstance(x, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", x) is not None  # noqa: E731
    return check(key, v, valid, "auto, cpu, cuda or cuda:N")


def validator_names(key: str, v: Any) -> list[str]:
    allowed = f"a list of validators among {', '.join(VALIDATORS.names())}"
    return check(key, v, lambda x: isinstance(x, list) and all(n in VALIDATORS for n in x), allowed)


def selecting_validator(key: str, v: Any) -> str | None:
    return check(
        key, v, lambda x: x is None or x in VALIDATORS, f"null or one of {', '.join(VALIDATORS.names())}"
    )


SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "seed": integer,
    "objective": lambda k, v: one_of(k, v, OBJECTIVES),
    "device": device_name,
    "data.image_size": lambda k, v: check(k, v, lambda x: is_int(x) and x >= 8, "an integer >= 8"),
    "data.download": flag,
    "data.verify": flag,
    "data.eval_limit": lambda k, v: (
        v if v is None else check(k, v, lambda x: is_int(x) and x > 0, "null or an integer > 0")
    ),
    "data.resident": lambda k, v: one_of(k, v, ("auto", True, False)),
    "data.workers": lambda k, v: check(
        k, v, lambda x: x == "auto" or (is_int(x) and x >= 0), "auto or an integer >= 0"
    ),
    "data.decode": lambda k, v: one_of(k, v, ("auto", "cpu", "device")),
    "data.load_size": lambda k, v: check(k, v, lambda x: is_int(x) and x >= 8, "an integer >= 8"),
    "data.augment": lambda k, v: check(
        k,
        v,
        lambda x: isinstance(x, list) and all(isinstance(i, dict) and "name" in i for i in x),
        "a list of {name: <torchvision.transforms.v2 class>, ...}",
    ),
    "trainer.steps": positive_int,
    "trainer.batch_size": positive_int,
    "trainer.log_every": positive_int,
    "trainer.eval_every": non_negative_int,
    "trainer.checkpoint_every": non_negative_int,
    "trainer.eval_batch_size": lambda k, v: check(
        k, v, lambda x: x == "auto" or (is_int(x) and x > 0), "auto or an integer > 0"
    ),
    "trainer.preview_images": positive_int,
    "trainer.resume": lambda k, v: check(
        k,
        v,
        lambda x: x in ("auto", False, None) or (isinstance(x, str) and x != ""),
        "auto, false or a run folder",
    ),
    "trainer.time_limit": lambda k, v: check(
        k, v, lambda x: x in ("auto", None) or (is_number(x) and x > 0), "auto, null or minutes > 0"
    ),
    "trainer.progress": lambda k, v: check(k, v, lambda x: x in (True, False, "auto"), "auto, true or false"),
    "trainer.channels_last": flag,
    "trainer.compile": flag,
    "trainer.cuda_graph": flag,
    "trainer.precision": lambda k, v: one_of(k, v, PRECISIONS),
    "trainer.validators": validator_names,
    "trainer.select": selecting_validator,
    "trainer.validation_samples": positive_int,
    "trainer.embed_samples": positive_int,
    "trainer.embed_every": non_negative_int,
    "target.test_seed": integer,
    "preview.images": positive_int,
    "preview.cols": positive_int,
}


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first runner setting of the wrong type or out of range."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # an interpolation that cannot resolve, e.g. a missing env var
        raise ConfigError(f"config does not resolve: {str(err).splitlines()[0]}") from err
    missing = object()
    for key, test in SETTINGS.items():
        node: Any = plain
        for part in key.split("."):
            node = node.get(part, missing) if isinstance(node, dict) else missing
        if node is not missing:
            test(key, node)
