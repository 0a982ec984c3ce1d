"""PROPAGATION_REGISTRY and its builder."""

from fvcore.common.registry import Registry

from ghnas.utils.registry import lookup

PROPAGATION_REGISTRY = Registry("PROPAGATION")
PROPAGATION_REGISTRY.__doc__ = """
Registry for GNN propagation schemes. An entry is a function named after the scheme (the value
of ``GHN.PROPAGATION``) called as ``entry(cfg)``; it returns an object with
``propagate(h, schedule, cell, bias, passes) -> h`` that updates the embeddings ``h`` of one
module of a :class:`PackedGraph` (see ``ghnas/propagation/forward_backward.py``).
"""


def build_propagation(cfg):
    """Build the scheme named by ``cfg.GHN.PROPAGATION``."""
    return lookup(PROPAGATION_REGISTRY, cfg.GHN.PROPAGATION, "GHN.PROPAGATION")(cfg)
