"""TRAINER_REGISTRY and its builder."""

from fvcore.common.registry import Registry

from ghnas.utils.registry import lookup

TRAINER_REGISTRY = Registry("TRAINER")
TRAINER_REGISTRY.__doc__ = """
Registry for trainers. An entry is a function named after the trainer (the value of
``GHN.TRAINER`` for the "ghn" phase) called as ``entry(cfg, splits)`` with the dataset's
:class:`DatasetSplits`; it returns an object with ``train(resume: bool)``. An entry of the "ghn"
phase also accepts ``excluded_hashes``: architectures it must never train on.
"""


def build_trainer(cfg, splits, key: str = "GHN.TRAINER", **kwargs):
    """Build the trainer named by the config value at ``key`` (e.g. "GHN.TRAINER")."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return lookup(TRAINER_REGISTRY, node, key)(cfg, splits, **kwargs)
