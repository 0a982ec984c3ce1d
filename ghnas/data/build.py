"""The dataset registry and ``build_dataset``: the config's DATASETS.NAME to ``DatasetSplits``."""

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry

from ghnas.data.metadata import DatasetSplits
from ghnas.utils.registry import lookup

__all__ = ["DATASET_REGISTRY", "build_dataset"]

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Registry for datasets, chosen by ``cfg.DATASETS.NAME``.

An entry is a function registered under its ``__name__`` and called as
``entry(cfg) -> DatasetSplits``. It reads the DATASETS, INPUT, MODEL.DEVICE and SEED keys, returns
images already at ``INPUT.SIZE``, carves ``DATASETS.VAL_SIZE`` validation images out of its
training set with ``carve_validation`` and raises ``GhnasError`` (one line naming the config key)
for bad user input.
"""


def build_dataset(cfg: CfgNode) -> DatasetSplits:
    """Build the train/val(/test) splits and metadata of the dataset ``cfg.DATASETS.NAME``.

    Args:
        cfg: The full config.

    Returns:
        The entry's :class:`DatasetSplits`.

    Raises:
        GhnasError: Unknown name (the message lists the registered ones) or bad dataset input.
    """
    entry = lookup(DATASET_REGISTRY, cfg.DATASETS.NAME, "DATASETS.NAME")
    splits = entry(cfg)
    # A wrong return type is a bug in the entry, not user input: a plain TypeError.
    if not isinstance(splits, DatasetSplits):
        raise TypeError(
            f"dataset entry '{cfg.DATASETS.NAME}' returned {type(splits).__name__}, "
            f"expected DatasetSplits"
        )
    return splits
