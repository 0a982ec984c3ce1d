"""Looking names up in fvcore registries with an error that lists what is registered."""

from typing import Any

from fvcore.common.registry import Registry

from ghnas.utils.errors import GhnasError


def lookup(registry: Registry, name: str, key: str) -> Any:
    """Return ``registry``'s entry called ``name``; ``key`` is the config key that chose it."""
    if name not in registry:
        accepted = ", ".join(sorted(name for name, _ in registry))
        raise GhnasError(f"{key}: unknown {registry._name} '{name}'; registered: {accepted}")
    return registry.get(name)
