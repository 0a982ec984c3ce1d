"""An in-memory image dataset and the helpers every dataset entry shares.

In-memory datasets (digits, npz, cifar10) keep all images as one uint8 ``(N, C, H, W)`` tensor:
a CIFAR-10 training set is 150 MB that way, small enough to keep on the GPU and to index batches
out of directly, without a DataLoader. The helpers here (resize, validation carve, pixel
statistics) are also used by the lazy image-folder dataset, so every entry splits and
normalises the same way.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ghnas.data.metadata import DatasetMetadata
from ghnas.utils.errors import GhnasError

__all__ = [
    "TensorImageDataset",
    "resize_images",
    "carve_splits",
    "channel_mean_std",
    "image_metadata",
    "checked_input_size",
]

# Images processed per step by resize_images/channel_mean_std: bounds the float copy they make
# (4096 RGB 64x64 images are 200 MB in float32) whatever the dataset size.
_CHUNK = 4096


class TensorImageDataset(Dataset):
    """Images and labels held as two tensors; ``dataset[i]`` is ``(uint8 image, int64 label)``.

    Batch streams recognise this class and index ``images``/``labels`` with a whole batch of
    indices at once instead of gathering items one by one.
    """

    def __init__(self, *, images: Tensor, labels: Tensor) -> None:
        """
        Args:
            images: uint8 tensor of shape ``(N, C, H, W)``.
            labels: int64 tensor of shape ``(N,)`` on the same device as ``images``.
        """
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 (N, C, H, W) tensor; got {images.dtype} "
                f"of shape {tuple(images.shape)}"
            )
        if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must be an int64 ({images.shape[0]},) tensor; got {labels.dtype} "
                f"of shape {tuple(labels.shape)}"
            )
        if labels.device != images.device:
            raise ValueError(f"images on {images.device} but labels on {labels.device}")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    @property
    def device(self) -> torch.device:
        """Device holding the images and labels."""
        return self.images.device

    def subset(self, indices: Tensor) -> "TensorImageDataset":
        """A new dataset holding the rows ``indices`` (a 1-D int64 tensor), in that order."""
        indices = indices.to(self.device)
        return TensorImageDataset(images=self.images[indices], labels=self.labels[indices])

    def to(self, device: torch.device | str) -> "TensorImageDataset":
        """A dataset with the same contents on ``device`` (``self`` if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return TensorImageDataset(images=self.images.to(device), labels=self.labels.to(device))


def resize_images(images: Tensor, size: int) -> Tensor:
    """Resize uint8 ``(N, C, H, W)`` images to ``(N, C, size, size)``.

    Bilinear with antialiasing (so downscaling does not alias), rounded back to uint8. Images
    already at that size are returned unchanged, so 32x32 CIFAR-10 at ``INPUT.SIZE 32`` is
    bit-exact.

    Args:
        images: uint8 tensor of shape ``(N, C, H, W)``.
        size: Target side length in pixels.

    Returns:
        A uint8 tensor on the same device.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty(
        (images.shape[0], images.shape[1], size, size), dtype=torch.uint8, device=images.device
    )
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].float()
        resized = F.interpolate(
            chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        out[start : start + _CHUNK] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


MIN_INPUT_SIZE = 4  # below this every network sees a pixel or two: scores would mean nothing


def checked_input_size(size: int) -> int:
    """``INPUT.SIZE`` after checking it is a usable number of pixels (raises GhnasError)."""
    if size < MIN_INPUT_SIZE:
        raise GhnasError(f"INPUT.SIZE={size} must be at least {MIN_INPUT_SIZE} pixels")
    return size


def split_seed(cfg) -> int:
    """The seed the validation/test splits are carved with: DATASETS.SPLIT_SEED, or SEED."""
    return cfg.DATASETS.SPLIT_SEED if cfg.DATASETS.SPLIT_SEED >= 0 else cfg.SEED


def carve_splits(
    num_train: int, *, val_size: int, seed: int, test_size: int = 0
) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """Split ``range(num_train)`` into training, validation and (optionally) test indices.

    One permutation is drawn from ``torch.Generator().manual_seed(seed)``: validation takes its
    first ``val_size`` entries and test the next ``test_size``, so carving a test split leaves
    the validation split unchanged. Every index set is returned sorted so the splits keep the
    dataset's original order.

    Args:
        num_train: Images in the dataset's training set.
        val_size: ``DATASETS.VAL_SIZE``: images carved out for validation.
        seed: ``SEED``.
        test_size: ``DATASETS.TEST_SIZE``: images carved out as a held-out test split (0: none).

    Returns:
        ``(train_indices, val_indices, test_indices or None)``, int64 CPU tensors.

    Raises:
        GhnasError: ``val_size`` is below 1, ``test_size`` below 0, or they leave no image to
            train on.
    """
    if val_size < 1:
        raise GhnasError(
            f"DATASETS.VAL_SIZE={val_size} must be at least 1 (images carved out of the "
            f"training set for validation)"
        )
    if test_size < 0:
        raise GhnasError(f"DATASETS.TEST_SIZE={test_size} must be >= 0")
    if val_size + test_size >= num_train:
        carved = "DATASETS.VAL_SIZE" + (" + DATASETS.TEST_SIZE" if test_size else "")
        raise GhnasError(
            f"{carved}={val_size + test_size} must be smaller than the training set "
            f"({num_train} images)"
        )
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.randperm(num_train, generator=generator)
    val_indices = permutation[:val_size].sort().values
    test_indices = permutation[val_size : val_size + test_size].sort().values
    train_indices = permutation[val_size + test_size :].sort().values
    return train_indices, val_indices, (test_indices if test_size else None)


def channel_mean_std(
    images: Tensor, *, channels: Optional[int] = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of uint8 pixels, in [0, 1] units.

    Accumulates sums in float64 chunk by chunk: exact enough for 50,000 images and never a
    float copy of the whole dataset.

    Args:
        images: uint8 tensor of shape ``(N, C, H, W)``.
        channels: Expected C, checked when given.

    Returns:
        ``(mean, std)``, each a tuple of C floats.
    """
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"expected {channels} channels; got images of shape {images.shape}")
    num_channels = images.shape[1]
    total = torch.zeros(num_channels, dtype=torch.float64, device=images.device)
    total_sq = torch.zeros_like(total)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64).div_(255.0)
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.square_().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    # E[x^2] - E[x]^2 in float64 over values in [0, 1]: cancellation error is ~1e-12.
    std = (total_sq / count - mean.square()).clamp_(min=0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def image_metadata(train_images: Tensor, *, num_classes: int) -> DatasetMetadata:
    """Metadata of square uint8 ``(N, C, S, S)`` training images with ``num_classes`` classes.

    Raises:
        GhnasError: A channel is constant over the training images, so it cannot be normalised.
    """
    mean, std = channel_mean_std(train_images)
    if min(std) <= 0:
        raise GhnasError(
            f"the training images have a constant channel (per-channel std {std}); "
            f"they cannot be normalised"
        )
    return DatasetMetadata(
        num_classes=num_classes,
        channels=train_images.shape[1],
        image_size=train_images.shape[-1],
        mean=mean,
        std=std,
    )
