"""SEARCH_SPACE_REGISTRY and its builder."""

from typing import Optional

from fvcore.common.registry import Registry

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces.base import SearchSpace
from ghnas.utils.registry import lookup

SEARCH_SPACE_REGISTRY = Registry("SEARCH_SPACE")
SEARCH_SPACE_REGISTRY.__doc__ = """
Registry for search spaces. An entry is a function named after the space (the value of
``SEARCH_SPACE.NAME``) called as ``entry(cfg, meta, num_nodes)`` and returning a
:class:`ghnas.search_spaces.SearchSpace`. ``meta`` is the dataset's :class:`DatasetMetadata`
(networks read classes, channels and image size from it); ``num_nodes`` overrides the space's
node count (the GHN trains on smaller blocks than it ranks).
"""


def build_search_space(cfg, meta: DatasetMetadata, num_nodes: Optional[int] = None) -> SearchSpace:
    """Build the space named by ``cfg.SEARCH_SPACE.NAME``."""
    builder = lookup(SEARCH_SPACE_REGISTRY, cfg.SEARCH_SPACE.NAME, "SEARCH_SPACE.NAME")
    if num_nodes is None:
        num_nodes = cfg.SEARCH_SPACE.NUM_NODES
    space = builder(cfg, meta, num_nodes)
    assert isinstance(space, SearchSpace), f"{builder} returned {type(space)}, not a SearchSpace"
    return space
