"""Name -> class registries: the only place where config names map to code.

A part registers itself with a decorator; the runner builds it from its config node, whose
``name`` picks the class and whose other keys become keyword arguments.  Plugins can register
more parts from outside the package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adda.errors import ConfigError


class Registry:
    """Maps names to constructors for one kind of part (backbone, method, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@BACKBONES.register("seed_cnn")``."""

        def add(obj: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def build(self, cfg: Mapping[str, Any] | DictConfig, **extra: Any) -> Any:
        """Build from a config node: ``name`` picks the class, the rest are its arguments."""
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        kwargs = dict(cfg)
        if "name" not in kwargs:
            raise ConfigError(f"{self.kind} config needs a 'name'; known: {', '.join(self.names())}")
        cls = self.get(kwargs.pop("name"))
        try:
            return cls(**kwargs, **extra)
        except TypeError as err:
            raise ConfigError(f"{self.kind} {cfg['name']!r}: {err}") from err

    def __contains__(self, name: str) -> bool:
        return name in self._entries


DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
BACKBONES = Registry("backbone")
DISCRIMINATORS = Registry("discriminator")
METHODS = Registry("method")
OPTIMIZERS = Registry("optimizer")
VALIDATORS = Registry("validator")
