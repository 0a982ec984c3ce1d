"""Config keys of the NAS-Bench-201 project (added to the core defaults, none changed)."""

from ghnas.config import CfgNode as CN


def add_nasbench201_config(cfg) -> None:
    """Add ``cfg.NASBENCH201``: the macro skeleton of the benchmark's networks."""
    cfg.NASBENCH201 = CN()
    # C: channels of the first stage (2C and 4C after the two reductions). The benchmark's is 16.
    cfg.NASBENCH201.CHANNELS = 16
    # N: cells per stage (3N cells in all). The benchmark's is 5.
    cfg.NASBENCH201.CELLS_PER_STAGE = 5
    # Networks per grouped-convolution pass when many run together (scoring, GHN training with
    # GHN.META_BATCH > 1; see nasbench201/fused_network.py); 0 = all of a chunk in one pass.
    # On a CPU 1 is fastest: oneDNN's grouped convolutions of a few channels per group are
    # slow and one network's activations stay in cache. On a GPU, where these small networks
    # are bound by kernel launches, larger groups pay.
    cfg.NASBENCH201.FUSED_GROUP = 1
