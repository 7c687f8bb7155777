"""Name -> class registries: the only place where config names map to code.

A part registers itself with a decorator; the runner builds it from its config node, whose
``name`` picks the class and whose other keys become keyword arguments.  Nothing lists the parts:
at the first lookup a registry imports every module of its home package (so a new part is one new
module there) and every module that an installed distribution names in the ``adda.plugins``
entry-point group (so a separate pip package can add parts, and configs next to them in a
``conf/`` folder: see ``hydra_plugins/adda_plugins``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adda.checks import ArgumentError
from adda.errors import ConfigError

PLUGIN_GROUP = "adda.plugins"
_BY_KIND: dict[str, Registry] = {}
_plugins_loaded = False


def import_tree(name: str) -> None:
    """Import a module and, if it is a package, every module below it."""
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
        importlib.import_module(info.name)


def load_plugins() -> None:
    """Import each ``adda.plugins`` entry point once; a broken plugin is one line, not a crash."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()
        except Exception as err:
            raise ConfigError(
                f"adda plugin {ep.name!r} ({ep.value}) failed to import: {type(err).__name__}: {err}; "
                f"fix or uninstall its package"
            ) from err


def arguments_of(cls: Callable[..., Any], given: Mapping[str, Any]) -> str:
    """``; its arguments: a, b`` (those a config may set), for a message about a wrong one."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return ""
    names = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.KEYWORD_ONLY]
    names = [n for n in names if n not in given]
    return f"; its arguments: {', '.join(names)}" if names else ""


def registry_of(kind: str) -> Registry:
    return _BY_KIND[kind]


class Registry:
    """Maps names to constructors for one kind of part (backbone, method, ...)."""

    def __init__(self, kind: str, home: str | None = None) -> None:
        """``home``: the package (or module) whose modules hold the built-in parts of this kind."""
        self.kind, self.home = kind, home
        self._entries: dict[str, Callable[..., Any]] = {}
        self._loaded = False
        if home:
            _BY_KIND[kind] = self

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by name: a sweep worker that unpickles the runner (joblib pickles ``python -m
        adda.train``'s functions by value) must fill the module's registry, not a copy of it."""
        if _BY_KIND.get(self.kind) is self:
            return registry_of, (self.kind,)
        return super().__reduce__()

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@BACKBONES.register("seed_cnn")``."""

        def add(obj: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self.home:
                import_tree(self.home)
            load_plugins()

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        self._load()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def build(self, cfg: Mapping[str, Any] | DictConfig, at: str | None = None, **extra: Any) -> Any:
        """Build from a config node: ``name`` picks the class, the rest are its arguments.

        ``at``: where the node sits in the config (``method``, ``target.transforms[1]``), so that
        a bad argument is reported under its full key.
        """
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        kwargs = dict(cfg)
        if "name" not in kwargs:
            raise ConfigError(f"{self.kind} config needs a 'name'; known: {', '.join(self.names())}")
        cls = self.get(kwargs.pop("name"))
        try:
            return cls(**kwargs, **extra)
        except ArgumentError as err:
            raise (err.at(at) if at else err) from None
        except TypeError as err:
            raise ConfigError(f"{self.kind} {cfg['name']!r}: {err}{arguments_of(cls, extra)}") from err

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries


DATASETS = Registry("dataset", "adda.data")
TRANSFORMS = Registry("transform", "adda.data.transforms")
BACKBONES = Registry("backbone", "adda.models")
DISCRIMINATORS = Registry("discriminator", "adda.models")
METHODS = Registry("method", "adda.methods")
OPTIMIZERS = Registry("optimizer", "adda.optim")
VALIDATORS = Registry("validator", "adda.validators")
