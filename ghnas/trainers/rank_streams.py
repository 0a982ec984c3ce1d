"""What each torchrun rank reads: its own image stream, derived from SEED and the rank.

Rank 0 reads the stream of a one-process run, so one process is bit for bit unchanged; every
other rank reads the stream of a seed derived from ``(SEED, 3, rank)``. The GHN trainer and the
classification runs both split their data this way.
"""

import numpy as np


def batch_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s image stream: ``seed`` itself for rank 0 (a one-process run is
    unchanged), a 63-bit seed derived from ``(seed, 3, rank)`` for the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, 3, rank]).generate_state(1, np.uint64)[0] >> 1)


def rank_stream_config(cfg, rank: int):
    """The config whose batch stream rank ``rank`` reads: ``cfg`` itself on rank 0, a clone with
    :func:`batch_seed` as SEED on the others (each rank reads its own batches)."""
    if rank == 0:
        return cfg
    stream_cfg = cfg.clone()
    stream_cfg.defrost()
    stream_cfg.SEED = batch_seed(cfg.SEED, rank)
    return stream_cfg
