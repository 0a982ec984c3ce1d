"""The ``image_folder`` entry: a directory with one sub-directory of images per class (ImageNet).

Unlike the in-memory entries, images stay on disk and are decoded each time they are read, so a
folder of any size works; ``DATASETS.ON_DEVICE`` does not apply. The splits transform their
images the ImageNet way (torchvision transforms v2), each to a uint8 ``(3, S, S)`` tensor:

- training: a random-resized crop to S (scale 0.08-1, aspect 3/4-4/3) and, with
  ``INPUT.HORIZONTAL_FLIP``, a random flip. The split augments itself, so the training stream
  reads it through DataLoader workers (``ghnas/data/loader_stream.py``) instead of applying the
  in-memory datasets' pad-and-crop;
- validation and test: the shorter side resized to S / 0.875 (256 for 224), then a centre crop.
"""

import os
from typing import Callable, Sequence

import torch
from fvcore.common.config import CfgNode
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from ghnas.data.build import DATASET_REGISTRY
from ghnas.data.metadata import DatasetSplits
from ghnas.data.tensor_dataset import (
    carve_splits,
    checked_input_size,
    image_metadata,
    split_seed,
)
from ghnas.utils.errors import GhnasError

__all__ = ["FolderSplit", "image_folder", "train_transform", "eval_transform"]

# Training images decoded to estimate the per-channel mean/std: enough for three significant
# digits, cheap enough to read at every start.
_STATS_IMAGES = 512
# The evaluation crop's share of the resized image: the standard ImageNet 224 of 256.
CENTRE_CROP_SHARE = 0.875


def train_transform(size: int, horizontal_flip: bool) -> Callable:
    """PIL image -> uint8 ``(3, size, size)``: random-resized crop, then maybe a random flip."""
    steps = [v2.PILToTensor(), v2.RandomResizedCrop(size, antialias=True)]
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def eval_transform(size: int) -> Callable:
    """PIL image -> uint8 ``(3, size, size)``: shorter side to size / 0.875, centre crop."""
    resized = int(round(size / CENTRE_CROP_SHARE))
    return v2.Compose([v2.PILToTensor(), v2.Resize(resized, antialias=True), v2.CenterCrop(size)])


class FolderSplit(Dataset):
    """Some images of a torchvision ``ImageFolder``, as ``(uint8 (3, S, S) tensor, int label)``.

    ``augments_itself`` (a random ``transform``) tells the batch streams to leave augmentation
    to the split and read it through DataLoader workers.
    """

    def __init__(
        self, folder: ImageFolder, indices: Sequence[int], transform: Callable, augments: bool
    ) -> None:
        self.folder, self.indices, self.transform = folder, list(indices), transform
        self.augments_itself = augments

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[Tensor, int]:
        path, label = self.folder.samples[self.indices[position]]
        try:
            image = self.folder.loader(path)  # PIL, converted to RGB
        except OSError as e:  # PIL's UnidentifiedImageError and truncated files.
            reason = " ".join(str(e).split())
            raise GhnasError(f"DATASETS.ROOT: cannot read image {path}: {reason}") from None
        return self.transform(image), label


@DATASET_REGISTRY.register()
def image_folder(cfg: CfgNode) -> DatasetSplits:
    """Images under ``DATASETS.ROOT/<class>/``; train, val and optional test carved by index,
    transformed as the module docstring says.

    The metadata's mean/std come from up to 512 training images chosen with the split seed, as
    evaluation sees them (resized and centre-cropped).
    """
    root = cfg.DATASETS.ROOT
    size = checked_input_size(cfg.INPUT.SIZE)
    if not os.path.isdir(root):
        raise GhnasError(
            f"DATASETS.ROOT={root}: directory not found; 'image_folder' needs one "
            f"sub-directory of images per class"
        )
    try:
        full = ImageFolder(root)  # its default loader opens every file with PIL, as RGB
    except FileNotFoundError as e:
        reason = " ".join(str(e).split())
        raise GhnasError(f"DATASETS.ROOT={root}: {reason}") from None
    train_idx, val_idx, test_idx = carve_splits(
        len(full),
        val_size=cfg.DATASETS.VAL_SIZE,
        seed=split_seed(cfg),
        test_size=cfg.DATASETS.TEST_SIZE,
    )
    evaluated = eval_transform(size)
    train = FolderSplit(full, train_idx.tolist(), train_transform(size, cfg.INPUT.HORIZONTAL_FLIP),
                        augments=True)  # fmt: skip
    val = FolderSplit(full, val_idx.tolist(), evaluated, augments=False)
    test = (
        FolderSplit(full, test_idx.tolist(), evaluated, augments=False)
        if test_idx is not None
        else None
    )

    # The statistics come from training images as evaluation sees them (no random crop).
    generator = torch.Generator().manual_seed(split_seed(cfg))
    picked = torch.randperm(len(train), generator=generator)[:_STATS_IMAGES]
    plain = FolderSplit(full, [train.indices[i] for i in picked.tolist()], evaluated, False)
    sample = torch.stack([plain[i][0] for i in range(len(plain))])
    meta = image_metadata(sample, num_classes=len(full.classes))
    return DatasetSplits(train=train, val=val, meta=meta, test=test)
