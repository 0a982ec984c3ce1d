"""Installed projects as plug-ins: one entry-point group, as pytest plug-ins register.

A project's ``pyproject.toml`` names its config hook in the ``ghnas.plugins`` group::

    [project.entry-points."ghnas.plugins"]
    my_space = "my_package:add_my_config"

Loading the entry point imports ``my_package``, whose modules register their parts in the core
registries; the hook, called as ``hook(cfg)``, adds the project's config keys. ``get_cfg()``
loads every installed plug-in, so each tool, ``ghnas.api.load_ghn`` and the tests see them
after one ``pip install -e projects/<Name>``. A config records the plug-ins it was made with
(``PLUGINS``), and merging a file that names one not installed here fails in one line.
"""

import functools
from importlib.metadata import entry_points
from typing import Callable, Dict, Iterable

from ghnas.utils.errors import GhnasError

ENTRY_POINT_GROUP = "ghnas.plugins"


@functools.lru_cache(maxsize=None)
def installed_plugins() -> Dict[str, Callable]:
    """Name -> config hook of every installed plug-in, each loaded once (import registers)."""
    hooks: Dict[str, Callable] = {}
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            hook = point.load()
        except Exception as e:  # a broken plug-in: say which, in one line
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GhnasError(f"plug-in '{point.name}' ({point.value}) failed to load: {reason}")
        if not callable(hook):
            raise GhnasError(
                f"plug-in '{point.name}': {point.value} is not a config hook (a function of cfg)"
            )
        hooks[point.name] = hook
    return hooks


def add_plugin_config(cfg) -> None:
    """Add every installed plug-in's keys to ``cfg`` and record their names in ``cfg.PLUGINS``."""
    plugins = installed_plugins()
    for hook in plugins.values():
        hook(cfg)
    cfg.PLUGINS = sorted(plugins)


def check_plugins_installed(named: Iterable[str], where: str) -> None:
    """Raise :class:`GhnasError` if a plug-in that ``where`` was made with is not installed."""
    missing = sorted(set(named) - set(installed_plugins()))
    if missing:
        raise GhnasError(
            f"{where} was made with plug-in {', '.join(map(repr, missing))}, which is not "
            "installed here (pip install the project that provides it, e.g. "
            "pip install -e projects/NASBench201)"
        )
