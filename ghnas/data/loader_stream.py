"""Training batches of an on-disk dataset (an image folder), decoded by DataLoader workers.

The in-memory stream (:class:`~ghnas.data.batches.TrainBatchStream`) indexes a tensor; an
ImageNet-sized folder must instead be decoded and augmented image by image, which one core
cannot do as fast as a GPU trains. :class:`LoaderStream` reads such a split through
``torch.utils.data.DataLoader`` with ``DATALOADER.NUM_WORKERS`` worker processes and pinned
memory (on CUDA), the split applying its own augmentation (``FolderSplit``).

Epoch ``e`` is one permutation of the split, drawn by ``DistributedSampler`` from ``(seed, e)``
and the same on every rank; rank ``r`` of ``N`` reads every N-th image of it (the tail that does
not divide evenly is dropped), so within an epoch no image is read twice across ranks. Batches
are full (``drop_last``); a new epoch starts when one runs out. The state is the epoch and the
batches read of it, so ``--resume`` continues with the same images in the same order (the
workers' random crops are seeded by that position, so they differ from an unbroken run's for
the rest of the epoch).
"""

from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ghnas.data.batches import _normalization, apply_cutout, normalize_images
from ghnas.data.metadata import DatasetMetadata
from ghnas.utils.errors import GhnasError

__all__ = ["LoaderStream"]


class LoaderStream:
    """Endless batches of ``dataset`` (which augments itself) for one rank of ``world_size``."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        meta: DatasetMetadata,
        batch_size: int,
        device: torch.device | str,
        seed: int,
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
        cutout: int = 0,
    ) -> None:
        """
        Args:
            dataset: Yields ``(uint8 (C, S, S) augmented image, label)``.
            meta: Its metadata (the normalisation's mean/std).
            batch_size: Images per batch on this rank.
            device: Where the returned batches live.
            seed: Seeds every epoch's permutation (the same on every rank) and the workers.
            num_workers: DataLoader worker processes (0: decode in this process).
            rank, world_size: This process's share of each epoch.
            cutout: Side of the square zeroed in each image after normalisation (0: none).
        """
        per_rank = len(dataset) // world_size
        if batch_size < 1 or num_workers < 0 or cutout < 0 or per_rank < batch_size:
            raise GhnasError(
                f"the training stream needs batch size >= 1, DATALOADER.NUM_WORKERS >= 0 and at "
                f"least one full batch per process; got batch {batch_size}, {num_workers} "
                f"workers, cutout {cutout} and {len(dataset)} images over {world_size} processes"
            )
        self.dataset, self.meta, self.batch_size = dataset, meta, batch_size
        self.device = torch.device(device)
        self.seed, self.rank, self.num_workers, self.cutout = seed, rank, num_workers, cutout
        self.sampler = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self._mean, self._std = _normalization(meta, self.device)
        self._cutout_generator = torch.Generator().manual_seed(seed + 1)
        self.epoch, self.position = 0, 0  # batches of ``epoch`` already returned
        self._batches: Optional[Iterator] = None

    def batches_per_epoch(self) -> int:
        """Full batches of this rank's share of an epoch."""
        return self.sampler.num_samples // self.batch_size

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """The next batch: float32 ``(B, C, S, S)`` normalised images and int64 ``(B,)`` labels,
        on ``device``."""
        if self.position == self.batches_per_epoch():
            self.epoch, self.position, self._batches = self.epoch + 1, 0, None
        if self._batches is None:
            self._batches = iter(self._loader())
        images, labels = next(self._batches)
        self.position += 1
        non_blocking = self.device.type == "cuda"
        images = images.to(self.device, non_blocking=non_blocking)
        images = normalize_images(images, self._mean, self._std)
        if self.cutout > 0:
            side = images.shape[-1]
            centres = torch.randint(0, side, (images.shape[0], 2), generator=self._cutout_generator)
            images = apply_cutout(images, centres, self.cutout)
        return images, labels.to(self.device, dtype=torch.int64, non_blocking=non_blocking)

    def _loader(self) -> DataLoader:
        """The DataLoader of what is left of the current epoch."""
        self.sampler.set_epoch(self.epoch)
        order = list(self.sampler)[self.position * self.batch_size :]
        # The workers' random crops: seeded by where the stream is, so a fresh run repeats them.
        key = [self.seed, self.rank, self.epoch, self.position]
        workers = torch.Generator().manual_seed(
            int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1)
        )
        return DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=order, drop_last=True,
            num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
            generator=workers, persistent_workers=False,
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: the epoch and the batches of it already returned."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_images": len(self.dataset),
            "cutout_generator": self._cutout_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the next batches hold the images the saved stream would
        have returned next.

        Raises:
            GhnasError: The state belongs to a stream over a dataset of another size.
        """
        if state["num_images"] != len(self.dataset):
            raise GhnasError(
                f"the saved data stream covers {state['num_images']} training images but the "
                f"training set has {len(self.dataset)}; resume with the same DATASETS settings"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._cutout_generator.set_state(state["cutout_generator"])
        self._batches = None
