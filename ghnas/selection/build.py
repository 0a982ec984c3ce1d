"""SELECTION_REGISTRY and its builder."""

from fvcore.common.registry import Registry

from ghnas.utils.registry import lookup

SELECTION_REGISTRY = Registry("SELECTION")
SELECTION_REGISTRY.__doc__ = """
Registry for selection criteria. An entry is a function named after the criterion (the value of
``SEARCH.CRITERION``) called as ``entry(cfg)``; it returns an object with
``evaluate(network, params, batches) -> dict`` that runs ``network`` with the generated ``params``
on the fixed evaluation ``batches``. The dict holds ``"score"`` (a float, higher is better) and
may add fields for the results row (e.g. ``"flops"`` or an anytime network's ``"exits"``).
Its ``needs_early_exits`` says whether it reads early-exit networks (a list of logits).
Optionally ``evaluate_fused(fused, params, batches) -> list of dicts`` scores every network of a
space's fused network (``SearchSpace.build_fused_network``) at once; the scorer uses it where both
exist.
"""


def build_criterion(cfg):
    """Build the criterion named by ``cfg.SEARCH.CRITERION``."""
    return lookup(SELECTION_REGISTRY, cfg.SEARCH.CRITERION, "SEARCH.CRITERION")(cfg)
