"""Config groups from adda plugin packages: each ``adda.plugins`` entry point's package may ship a
``conf/`` folder laid out as adda's (``conf/method/<name>.yaml``), which is then searched after
adda's own, so ``method=<name>`` finds a plugin's method.  Only adda's apps are touched."""

from __future__ import annotations

import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


def plugin_conf_dirs() -> list[Path]:
    """The ``conf/`` folder beside each plugin entry point's top-level package, where there is one."""
    dirs = []
    for ep in entry_points(group="adda.plugins"):
        spec = importlib.util.find_spec(ep.module.split(".")[0])
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            conf = Path(location) / "conf"
            if conf.is_dir() and conf not in dirs:
                dirs.append(conf)
    return dirs


class AddaPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        paths = [element.path for element in search_path.get_path()]
        if not any(p and p.rstrip("/").endswith(("adda/conf", "adda.conf")) for p in paths):
            return  # another Hydra app in the same environment
        for conf in plugin_conf_dirs():
            search_path.append(provider="adda-plugin", path=f"file://{conf}")
