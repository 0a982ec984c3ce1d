"""SEARCH_SPACE_REGISTRY and its builder."""

from fvcore.common.registry import Registry

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces.base import SearchSpace
from ghnas.utils.registry import lookup

SEARCH_SPACE_REGISTRY = Registry("SEARCH_SPACE")
SEARCH_SPACE_REGISTRY.__doc__ = """
Registry for search spaces. An entry is a function named after the space (the value of
``SEARCH_SPACE.NAME``) called as ``entry(cfg, meta, training)`` and returning a
:class:`ghnas.search_spaces.SearchSpace`. ``meta`` is the dataset's :class:`DatasetMetadata`
(networks read classes, channels and image size from it); ``training`` asks for the space the
GHN trains on, which may differ from the one ranked (the paper trains on blocks of 7 nodes and
ranks blocks of 17).
"""


def build_search_space(cfg, meta: DatasetMetadata, training: bool = False) -> SearchSpace:
    """Build the space named by ``cfg.SEARCH_SPACE.NAME`` (for GHN training if ``training``)."""
    builder = lookup(SEARCH_SPACE_REGISTRY, cfg.SEARCH_SPACE.NAME, "SEARCH_SPACE.NAME")
    space = builder(cfg, meta, training)
    assert isinstance(space, SearchSpace), f"{builder} returned {type(space)}, not a SearchSpace"
    return space
