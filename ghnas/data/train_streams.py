"""The training stream of a dataset: in-memory tensors indexed directly, or folders of files
read by DataLoader workers, and which images each torchrun rank reads.

- An in-memory dataset gives a :class:`TrainBatchStream` (pad-and-crop and flips drawn from
  one generator). Each rank reads its own stream, of seed :func:`batch_seed`; rank 0's is a
  one-process run's, so one process is bit for bit unchanged.
- A split that augments itself (an image folder, ``FolderSplit``) gives a
  :class:`LoaderStream`: DataLoader workers, pinned memory, and a ``DistributedSampler`` that
  deals every epoch out to the ranks, so no image is read twice in an epoch.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ghnas.data.batches import TrainBatchStream
from ghnas.data.loader_stream import LoaderStream
from ghnas.data.metadata import DatasetMetadata, DatasetSplits
from ghnas.utils.errors import GhnasError

__all__ = ["augments_itself", "batch_seed", "train_stream", "train_stream_from_config"]


def batch_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s in-memory stream: ``seed`` itself for rank 0 (a one-process run
    is unchanged), a 63-bit seed derived from ``(seed, 3, rank)`` for the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, 3, rank]).generate_state(1, np.uint64)[0] >> 1)


def augments_itself(dataset: Dataset) -> bool:
    """Whether ``dataset`` decodes and augments its own images (read through workers)."""
    return bool(getattr(dataset, "augments_itself", False))


def train_stream(
    *,
    dataset: Dataset,
    meta: DatasetMetadata,
    batch_size: int,
    device: torch.device | str,
    crop_padding: int,
    horizontal_flip: bool,
    seed: int,
    cutout: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
):
    """The stream rank ``rank`` of ``world_size`` trains on (see the module docstring).

    ``crop_padding`` and ``horizontal_flip`` apply to in-memory datasets; a split that augments
    itself has its own crop and flip. ``num_workers`` applies to the latter.
    """
    if augments_itself(dataset):
        return LoaderStream(
            dataset=dataset, meta=meta, batch_size=batch_size, device=device, seed=seed,
            num_workers=num_workers, rank=rank, world_size=world_size, cutout=cutout,
        )  # fmt: skip
    return TrainBatchStream(
        dataset=dataset, meta=meta, batch_size=batch_size, device=device,
        crop_padding=crop_padding, horizontal_flip=horizontal_flip, seed=batch_seed(seed, rank),
        cutout=cutout,
    )  # fmt: skip


def train_stream_from_config(cfg, splits: DatasetSplits, *, rank: int = 0, world_size: int = 1):
    """The GHN's stream over ``splits.train`` (SOLVER.IMS_PER_BATCH, MODEL.DEVICE, INPUT.*,
    DATALOADER.NUM_WORKERS, SEED) for rank ``rank`` of ``world_size``."""
    checks = [
        ("SOLVER.IMS_PER_BATCH", cfg.SOLVER.IMS_PER_BATCH, 1),
        ("INPUT.CROP_PADDING", cfg.INPUT.CROP_PADDING, 0),
        ("DATALOADER.NUM_WORKERS", cfg.DATALOADER.NUM_WORKERS, 0),
    ]
    for key, value, least in checks:
        if value < least:
            raise GhnasError(f"{key}={value} must be >= {least}")
    return train_stream(
        dataset=splits.train, meta=splits.meta, batch_size=cfg.SOLVER.IMS_PER_BATCH,
        device=cfg.MODEL.DEVICE, crop_padding=cfg.INPUT.CROP_PADDING,
        horizontal_flip=cfg.INPUT.HORIZONTAL_FLIP, seed=cfg.SEED,
        num_workers=cfg.DATALOADER.NUM_WORKERS, rank=rank, world_size=world_size,
    )  # fmt: skip
