"""Argument checks that a part calls on its own arguments in its constructor.

Each check returns the value it was given, so a constructor reads
``self.p = fraction("p", p)``, and raises :class:`ArgumentError` naming the argument, its value and
what is allowed.  Built by name (:meth:`adda.registry.Registry.build`), the error is re-worded with
where the part sits in the config: ``method.pretrain_fraction=2: must be a number in [0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adda.errors import ConfigError


class ArgumentError(ConfigError):
    """``key=value: must be <allowed>``; :meth:`at` names where the part sits in the config."""

    def __init__(self, key: str, value: Any, allowed: str, rooted: bool = False) -> None:
        super().__init__(f"{key}={value!r}: must be {allowed}")
        self.key, self.value, self.allowed, self.rooted = key, value, allowed, rooted

    def at(self, prefix: str, root: bool = False) -> ArgumentError:
        """The same error under ``prefix``; ``root``: the key is now complete (an ``optim`` key
        met while a method builds its optimiser stays ``optim.lr``, not ``method.optim.lr``)."""
        if self.rooted:
            return self
        return ArgumentError(f"{prefix}.{self.key}", self.value, self.allowed, rooted=root)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check(key: str, value: Any, ok: Callable[[Any], bool], allowed: str) -> Any:
    """``value`` if ``ok(value)``, else an :class:`ArgumentError` saying what is ``allowed``."""
    if not ok(value):
        raise ArgumentError(key, value, allowed)
    return value


def positive(key: str, value: Any) -> float:
    return check(key, value, lambda v: is_number(v) and v > 0, "a number > 0")


def non_negative(key: str, value: Any) -> float:
    return check(key, value, lambda v: is_number(v) and v >= 0, "a number >= 0")


def fraction(key: str, value: Any) -> float:
    """Probabilities, fractions of a run, thresholds on a probability."""
    return check(key, value, lambda v: is_number(v) and 0 <= v <= 1, "a number in [0, 1]")


def positive_int(key: str, value: Any) -> int:
    return check(key, value, lambda v: is_int(v) and v > 0, "an integer > 0")


def non_negative_int(key: str, value: Any) -> int:
    return check(key, value, lambda v: is_int(v) and v >= 0, "an integer >= 0 (0 turns it off)")


def integer(key: str, value: Any) -> int:
    return check(key, value, is_int, "an integer")


def flag(key: str, value: Any) -> bool:
    return check(key, value, lambda v: isinstance(v, bool), "true or false")


def one_of(key: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    return check(key, value, lambda v: v in choices, " or ".join(map(str, choices)))


def positive_ints(key: str, value: Any) -> list[int]:
    """A list of layer widths and the like."""
    return check(
        key,
        list(value) if isinstance(value, (list, tuple)) else value,
        lambda v: isinstance(v, list) and all(is_int(w) and w > 0 for w in v),
        "a list of integers > 0",
    )
