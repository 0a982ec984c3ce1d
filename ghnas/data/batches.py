"""Normalised image batches: an endless, resumable training stream and fixed evaluation batches.

No DataLoader: in-memory datasets are indexed with a whole batch of indices at once (on the GPU
when ``DATASETS.ON_DEVICE``) and augmented there with one vectorised gather. Every random draw
(order, crop offsets, flips, cutout centres) comes from one CPU ``torch.Generator``, so a stream
is reproducible from ``SEED`` alone on any device and resumable from its ``state_dict``.
"""

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ghnas.data.metadata import DatasetMetadata
from ghnas.data.tensor_dataset import TensorImageDataset
from ghnas.utils.errors import GhnasError

__all__ = ["TrainBatchStream", "evaluation_batches"]


class TrainBatchStream:
    """Endless augmented training batches of a fixed size.

    Each epoch is a fresh random permutation of the dataset; a batch is the next
    ``batch_size`` entries of it, continuing into the next epoch's permutation when the current
    one runs out, so every batch is full. Each image is randomly cropped (zero padding
    ``crop_padding``, its own offset) and flipped horizontally with probability 1/2, then
    normalised with the metadata's mean/std, then (``cutout`` > 0) has one square zeroed.
    """

    def __init__(
        self,
        *,
        dataset: Dataset,
        meta: DatasetMetadata,
        batch_size: int,
        device: torch.device | str,
        crop_padding: int,
        horizontal_flip: bool,
        seed: int,
        cutout: int = 0,
    ) -> None:
        """
        Args:
            dataset: Yields ``(uint8 (C, S, S) image, label)``; a ``TensorImageDataset`` is
                indexed directly, any other dataset item by item (in this process).
            meta: Metadata of the dataset (mean/std used for normalisation).
            batch_size: Images per batch.
            device: Where the returned batches live.
            crop_padding: Zero padding in pixels of the random crop (0 disables cropping).
            horizontal_flip: Whether to flip images at random.
            seed: Seeds the generator of every random draw of the stream.
            cutout: Side in pixels of the square zeroed in every image after normalisation
                (Cutout, DeVries & Taylor 2017), centred on a uniformly drawn pixel and clipped
                at the border; 0 disables it.
        """
        if batch_size < 1 or crop_padding < 0 or cutout < 0 or len(dataset) == 0:
            raise ValueError(
                f"need batch_size >= 1, crop_padding >= 0, cutout >= 0 and a non-empty dataset; "
                f"got {batch_size}, {crop_padding}, {cutout} and {len(dataset)} images"
            )
        self.dataset = dataset
        self.meta = meta
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.crop_padding = crop_padding
        self.horizontal_flip = horizontal_flip
        self.cutout = cutout
        self._mean, self._std = _normalization(meta, self.device)
        self._generator = torch.Generator().manual_seed(seed)
        self._permutation: Optional[Tensor] = None  # None until the first batch.
        self._position = 0  # Entries of the current permutation already used.

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """The next batch: float32 ``(B, C, S, S)`` normalised images and int64 ``(B,)`` labels,
        both on ``device``."""
        indices = self._next_indices()
        images, labels = gather_images(self.dataset, indices, self.device)
        offsets, flips = _draw_augmentation(
            self._generator,
            indices.numel(),
            crop_padding=self.crop_padding,
            horizontal_flip=self.horizontal_flip,
        )
        images = _crop_and_flip(images, offsets, flips, padding=self.crop_padding)
        images = normalize_images(images, self._mean, self._std)
        if self.cutout > 0:
            # Drawn after the crops and flips, so streams without cutout are unchanged.
            side = images.shape[-1]
            centres = torch.randint(0, side, (indices.numel(), 2), generator=self._generator)
            images = apply_cutout(images, centres, self.cutout)
        return images, labels

    def _next_indices(self) -> Tensor:
        """The next ``batch_size`` dataset indices, drawing new epoch permutations as needed."""
        parts = []
        needed = self.batch_size
        while needed > 0:
            if self._permutation is None or self._position == self._permutation.numel():
                self._permutation = torch.randperm(len(self.dataset), generator=self._generator)
                self._position = 0
            part = self._permutation[self._position : self._position + needed]
            self._position += part.numel()
            needed -= part.numel()
            parts.append(part)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the stream exactly (CPU tensors and ints)."""
        permutation = None if self._permutation is None else self._permutation.clone()
        return {
            "generator": self._generator.get_state(),
            "permutation": permutation,
            "position": self._position,
            "num_images": len(self.dataset),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the next batches are those the saved stream would have made.

        Raises:
            GhnasError: The state belongs to a stream over a dataset of another size.
        """
        if state["num_images"] != len(self.dataset):
            raise GhnasError(
                f"the saved data stream covers {state['num_images']} training images but the "
                f"training set has {len(self.dataset)}; resume with the same DATASETS settings"
            )
        self._generator.set_state(state["generator"])
        permutation = state["permutation"]
        self._permutation = None if permutation is None else permutation.clone()
        self._position = int(state["position"])


def evaluation_batches(
    *,
    dataset: Dataset,
    meta: DatasetMetadata,
    num_images: int,
    batch_size: int,
    seed: int,
    device: torch.device | str,
) -> list[tuple[Tensor, Tensor]]:
    """A fixed, seeded subset of ``dataset``, normalised (no augmentation) and cut into batches.

    The subset is ``min(num_images, len(dataset))`` indices drawn with
    ``torch.Generator().manual_seed(seed)`` and sorted; the batches hold ``batch_size`` images
    each, the last possibly fewer. The same arguments always give identical tensors.

    Returns:
        A list of ``(float32 images, int64 labels)`` pairs on ``device``.
    """
    if num_images < 1 or batch_size < 1:
        raise ValueError(
            f"need num_images >= 1 and batch_size >= 1; got {num_images} and {batch_size}"
        )
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    count = min(num_images, len(dataset))
    indices = torch.randperm(len(dataset), generator=generator)[:count].sort().values
    images, labels = gather_images(dataset, indices, device)
    mean, std = _normalization(meta, device)
    images = normalize_images(images, mean, std)
    return [
        (images[start : start + batch_size], labels[start : start + batch_size])
        for start in range(0, count, batch_size)
    ]


def gather_images(dataset: Dataset, indices: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """uint8 images and int64 labels of ``dataset[indices]``, moved to ``device``."""
    if isinstance(dataset, TensorImageDataset):
        rows = indices.to(dataset.device)
        images, labels = dataset.images[rows], dataset.labels[rows]
    else:
        items = [dataset[i] for i in indices.tolist()]
        images = torch.stack([image for image, _ in items])
        labels = torch.tensor([int(label) for _, label in items], dtype=torch.int64)
    return images.to(device), labels.to(device)


def normalize_images(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(images / 255 - mean) / std`` in float32; mean/std shaped ``(1, C, 1, 1)``."""
    return images.to(torch.float32).div_(255.0).sub_(mean).div_(std)


def _normalization(meta: DatasetMetadata, device: torch.device) -> tuple[Tensor, Tensor]:
    """The metadata's mean and std as float32 ``(1, C, 1, 1)`` tensors on ``device``."""
    mean = torch.tensor(meta.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return mean, std


def apply_cutout(images: Tensor, centres: Tensor, size: int) -> Tensor:
    """Zero, in place, the ``size`` x ``size`` square of each image (N, C, H, W) whose rows
    start at ``centre_row - size // 2`` (columns likewise), clipped at the border; ``centres``
    is int64 ``(N, 2)``. One boolean mask for the whole batch, built on the images' device."""
    device = images.device
    start = centres.to(device) - size // 2  # (N, 2) first row and column, maybe negative
    rows = torch.arange(images.shape[-2], device=device)
    cols = torch.arange(images.shape[-1], device=device)
    in_rows = (rows >= start[:, :1]) & (rows < start[:, :1] + size)  # (N, H)
    in_cols = (cols >= start[:, 1:]) & (cols < start[:, 1:] + size)  # (N, W)
    return images.masked_fill_((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0.0)


def _draw_augmentation(
    generator: torch.Generator, num_images: int, *, crop_padding: int, horizontal_flip: bool
) -> tuple[Tensor, Tensor]:
    """Random crop offsets and flip flags for ``num_images`` images, drawn from ``generator``.

    Returns:
        ``offsets``: int64 ``(num_images, 2)`` (row, column) of each crop's top-left corner in
        the padded image, each in ``[0, 2 * crop_padding]``; ``flips``: bool ``(num_images,)``.
        Disabled augmentations draw nothing and return zeros / False.
    """
    if crop_padding > 0:
        offsets = torch.randint(0, 2 * crop_padding + 1, (num_images, 2), generator=generator)
    else:
        offsets = torch.zeros((num_images, 2), dtype=torch.int64)
    if horizontal_flip:
        flips = torch.randint(0, 2, (num_images,), generator=generator).bool()
    else:
        flips = torch.zeros(num_images, dtype=torch.bool)
    return offsets, flips


def _crop_and_flip(images: Tensor, offsets: Tensor, flips: Tensor, *, padding: int) -> Tensor:
    """Zero-pad ``images`` (N, C, H, W) by ``padding``, crop each at its ``offsets`` back to
    H x W and mirror those with ``flips``: one advanced-indexing gather for the whole batch."""
    if padding == 0 and not bool(flips.any()):
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding)) if padding else images
    rows = offsets[:, :1] + torch.arange(h)  # (N, H) rows of the padded image.
    cols = offsets[:, 1:] + torch.arange(w)  # (N, W)
    # A flipped crop reads its columns right to left.
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    device = images.device
    return padded[
        torch.arange(n, device=device)[:, None, None, None],
        torch.arange(c, device=device)[None, :, None, None],
        rows.to(device)[:, None, :, None],
        cols.to(device)[:, None, None, :],
    ]
