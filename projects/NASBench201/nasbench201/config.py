"""Config keys of the NAS-Bench-201 project (added to the core defaults, none changed)."""

from ghnas.config import CfgNode as CN


def add_nasbench201_config(cfg) -> None:
    """Add ``cfg.NASBENCH201``: the macro skeleton of the benchmark's networks."""
    cfg.NASBENCH201 = CN()
    # C: channels of the first stage (2C and 4C after the two reductions). The benchmark's is 16.
    cfg.NASBENCH201.CHANNELS = 16
    # N: cells per stage (3N cells in all). The benchmark's is 5.
    cfg.NASBENCH201.CELLS_PER_STAGE = 5
