"""What networks need to know about a dataset, and the splits a dataset entry returns.

Candidate networks, the GHN and the batch streams read :class:`DatasetMetadata`; they never read
``cfg.DATASETS`` or ``cfg.INPUT`` themselves, so a dataset entry is the single place where a
dataset's shape and statistics are decided.
"""

import math
from dataclasses import dataclass
from typing import Optional

from torch.utils.data import Dataset

__all__ = ["DatasetMetadata", "DatasetSplits"]


@dataclass(frozen=True)
class DatasetMetadata:
    """Shape and pixel statistics of a dataset's images.

    Attributes:
        num_classes: Number of classes; labels are integers in ``[0, num_classes)``.
        channels: Channels of every image (3 for RGB, 1 for grayscale).
        image_size: Side length in pixels of every (square) image the datasets return.
        mean: Per-channel mean of the training split's pixels, in [0, 1] units.
        std: Per-channel standard deviation (population, ddof=0) of the same pixels.
    """

    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        # Fail where the metadata is built, not deep inside a network that reads it.
        if self.num_classes < 1 or self.channels < 1 or self.image_size < 1:
            raise ValueError(
                f"num_classes, channels and image_size must be positive; got {self.num_classes}, "
                f"{self.channels}, {self.image_size}"
            )
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"mean and std need one value per channel ({self.channels}); "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        # Normalisation divides by std: a constant channel would produce inf/nan images.
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"every std must be finite and positive; got {self.std}")


@dataclass
class DatasetSplits:
    """The datasets one registered dataset entry produces.

    Every split yields ``(image, label)`` pairs: ``image`` a uint8 tensor of shape
    ``(meta.channels, meta.image_size, meta.image_size)``, ``label`` an int64 scalar (or int).

    Attributes:
        train: Images the GHN is trained on (the training set less the validation carve).
        val: ``DATASETS.VAL_SIZE`` images carved (seeded) out of the training set; search
            scores architectures on them.
        meta: Shape and statistics shared by all splits (statistics from ``train``).
        test: The dataset's own test set, or None where it has none.
    """

    train: Dataset
    val: Dataset
    meta: DatasetMetadata
    test: Optional[Dataset] = None
