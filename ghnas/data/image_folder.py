"""The ``image_folder`` entry: a directory with one sub-directory of images per class.

Unlike the in-memory entries, images stay on disk and are decoded (and resized to
``INPUT.SIZE``) each time they are read, so a folder of any size works; ``DATASETS.ON_DEVICE``
does not apply.
"""

import os

import torch
from fvcore.common.config import CfgNode
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision import transforms
from torchvision.datasets import ImageFolder

from ghnas.data.build import DATASET_REGISTRY
from ghnas.data.metadata import DatasetSplits
from ghnas.data.tensor_dataset import (
    carve_splits,
    checked_input_size,
    image_metadata,
    split_seed,
)
from ghnas.utils.errors import GhnasError

__all__ = ["ImageFolderDataset", "image_folder"]

# Training images decoded to estimate the per-channel mean/std: enough for three significant
# digits, cheap enough to read at every start.
_STATS_IMAGES = 512


class ImageFolderDataset(Dataset):
    """torchvision's ``ImageFolder`` returning ``(uint8 (3, S, S) tensor, int label)`` items.

    Each image is converted to RGB, its shorter side resized to S (antialiased), and centre
    cropped to S x S.
    """

    def __init__(self, *, root: str, image_size: int) -> None:
        """
        Args:
            root: Directory with one sub-directory of images per class.
            image_size: S, the side length of the returned images.

        Raises:
            FileNotFoundError: From torchvision, when there is no class folder or a class
                folder holds no image.
        """
        transform = transforms.Compose(
            [
                transforms.Resize(image_size, antialias=True),
                transforms.CenterCrop(image_size),
                transforms.PILToTensor(),
            ]
        )
        # ImageFolder's default loader opens every file with PIL and converts it to RGB.
        self.folder = ImageFolder(root, transform=transform)

    @property
    def classes(self) -> list[str]:
        """Class (sub-directory) names; label i is ``classes[i]``."""
        return self.folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        try:
            return self.folder[index]
        except OSError as e:  # PIL's UnidentifiedImageError and truncated files.
            reason = " ".join(str(e).split())
            path = self.folder.samples[index][0]
            raise GhnasError(f"DATASETS.ROOT: cannot read image {path}: {reason}") from None


@DATASET_REGISTRY.register()
def image_folder(cfg: CfgNode) -> DatasetSplits:
    """Images under ``DATASETS.ROOT/<class>/``; train, val and optional test carved by index.

    The metadata's mean/std come from up to 512 training images chosen with ``SEED``.
    """
    root = cfg.DATASETS.ROOT
    size = checked_input_size(cfg.INPUT.SIZE)
    if not os.path.isdir(root):
        raise GhnasError(
            f"DATASETS.ROOT={root}: directory not found; 'image_folder' needs one "
            f"sub-directory of images per class"
        )
    try:
        full = ImageFolderDataset(root=root, image_size=size)
    except FileNotFoundError as e:
        reason = " ".join(str(e).split())
        raise GhnasError(f"DATASETS.ROOT={root}: {reason}") from None
    train_idx, val_idx, test_idx = carve_splits(
        len(full),
        val_size=cfg.DATASETS.VAL_SIZE,
        seed=split_seed(cfg),
        test_size=cfg.DATASETS.TEST_SIZE,
    )
    train = Subset(full, train_idx.tolist())
    val = Subset(full, val_idx.tolist())
    test = Subset(full, test_idx.tolist()) if test_idx is not None else None

    generator = torch.Generator().manual_seed(split_seed(cfg))
    picked = torch.randperm(len(train), generator=generator)[:_STATS_IMAGES]
    sample = torch.stack([train[i][0] for i in picked.tolist()])
    meta = image_metadata(sample, num_classes=len(full.classes))
    return DatasetSplits(train=train, val=val, meta=meta, test=test)
