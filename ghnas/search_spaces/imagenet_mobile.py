"""The ImageNet-mobile space of section 5.1.2: classification blocks transferred to ImageNet.

"We directly transfer the best architecture block found in the CIFAR-10 experiments, using an
initial convolution layer of stride 2 before stacking 14 blocks with scale reduction at blocks 1,
2, 6 and 10." So: the blocks, op vocabulary, sampling and GHN graph of ``classification``; a
stride-2 stem; resolution halved and width doubled at blocks 1, 2, 6 and 10 (224 → 112 after the
stem → 56, 28, 14, 7; widths F to 16F). Input size and classes come from the dataset metadata
(``INPUT.SIZE`` 224 and 1,000 classes for ImageNet). The FLOP budget (600M) is met by choosing F
(``EXPORT.FLOP_BUDGET``, :func:`ghnas.search_spaces.width_fitting.fit_width_to_budget`).

Any classification block transfers: blocks of any node count parse and build, whatever
``SEARCH_SPACE.NUM_NODES`` (which only decides what :meth:`sample` draws).
"""

from typing import Tuple

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY
from ghnas.search_spaces.classification import ClassificationSearchSpace

# The stem's stride: 224×224 images enter the first block at 112×112.
MOBILE_STEM_STRIDE = 2


def mobile_reductions(num_blocks: int) -> Tuple[int, ...]:
    """Blocks 1, 2, 6 and 10 at B=14 (the paper's layout).

    Other B (small test configs) keep the two early reductions at blocks 1 and 2 and split the
    remaining B-2 blocks in thirds, like the CIFAR layout; duplicates and indices >= B are dropped
    so no input bottleneck strides by more than 4.
    """
    rest = num_blocks - 2
    candidates = (1, 2, 2 + rest // 3, 2 + 2 * rest // 3)
    return tuple(sorted({r for r in candidates if r < num_blocks}))


class ImageNetMobileSearchSpace(ClassificationSearchSpace):
    """Classification blocks stacked ``num_blocks`` times in the ImageNet-mobile layout."""

    name = "imagenet_mobile"

    def __init__(
        self, *, num_nodes: int, num_blocks: int, init_channels: int, meta: DatasetMetadata
    ) -> None:
        super().__init__(
            num_nodes=num_nodes,
            num_blocks=num_blocks,
            init_channels=init_channels,
            meta=meta,
            reductions=mobile_reductions(num_blocks),
            stem_stride=MOBILE_STEM_STRIDE,
        )


@SEARCH_SPACE_REGISTRY.register()
def imagenet_mobile(cfg, meta: DatasetMetadata, training: bool) -> ImageNetMobileSearchSpace:
    """Blocks of ``SEARCH_SPACE.NUM_NODES`` (``GHN.TRAIN_NUM_NODES`` for GHN training)."""
    return ImageNetMobileSearchSpace.from_config(cfg, meta, training)
