"""TrainBatchStream and evaluation_batches against literal per-image references."""

import io

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Subset

from ghnas.config import get_cfg
from ghnas.data import (
    DatasetMetadata,
    DatasetSplits,
    TensorImageDataset,
    TrainBatchStream,
    evaluation_batches,
)
from ghnas.data.batches import _draw_augmentation
from ghnas.data.train_streams import train_stream_from_config
from ghnas.utils.errors import GhnasError

NUM_IMAGES = 10
META = DatasetMetadata(
    num_classes=NUM_IMAGES, channels=3, image_size=8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)
)


def make_dataset():
    """Random 8x8 RGB images whose label is their index, so labels reveal the batch order."""
    images = torch.randint(
        0, 256, (NUM_IMAGES, 3, 8, 8), generator=torch.Generator().manual_seed(1)
    )
    return TensorImageDataset(images=images.to(torch.uint8), labels=torch.arange(NUM_IMAGES))


def make_stream(dataset=None, *, batch_size=4, crop_padding=2, horizontal_flip=True, seed=0):
    return TrainBatchStream(
        dataset=make_dataset() if dataset is None else dataset,
        meta=META,
        batch_size=batch_size,
        device="cpu",
        crop_padding=crop_padding,
        horizontal_flip=horizontal_flip,
        seed=seed,
    )


def manual_normalize(image_uint8):
    """(x / 255 - mean) / std for one (C, H, W) image, written out channel by channel."""
    x = image_uint8.to(torch.float32) / 255.0
    return torch.stack([(x[c] - META.mean[c]) / META.std[c] for c in range(3)])


def test_crop_and_flip_match_a_per_image_reference():
    dataset = make_dataset()
    padding = 2
    stream = make_stream(dataset, batch_size=NUM_IMAGES, crop_padding=padding)
    generator = torch.Generator().manual_seed(0)
    all_flips = []
    for _ in range(3):  # batch_size == dataset size: one permutation, then the draws, per batch
        x, y = stream.next_batch()
        indices = torch.randperm(NUM_IMAGES, generator=generator)
        offsets, flips = _draw_augmentation(
            generator, NUM_IMAGES, crop_padding=padding, horizontal_flip=True
        )
        assert torch.equal(y, indices)
        assert offsets.min() >= 0 and offsets.max() <= 2 * padding
        for row, index in enumerate(indices.tolist()):
            top, left = offsets[row].tolist()
            padded = F.pad(dataset.images[index], (padding, padding, padding, padding))
            crop = padded[:, top : top + 8, left : left + 8]
            if flips[row]:
                crop = torch.flip(crop, dims=[2])
            torch.testing.assert_close(x[row], manual_normalize(crop), rtol=0, atol=1e-6)
        all_flips.append(flips)
    all_flips = torch.cat(all_flips)
    assert all_flips.any() and not all_flips.all()  # both branches were exercised


def test_normalization_without_augmentation_matches_manual():
    dataset = make_dataset()
    x, y = make_stream(dataset, crop_padding=0, horizontal_flip=False).next_batch()
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (4, 3, 8, 8)
    for row, index in enumerate(y.tolist()):
        torch.testing.assert_close(
            x[row], manual_normalize(dataset.images[index]), rtol=0, atol=1e-6
        )


def test_epochs_are_permutations_and_batches_are_full():
    stream = make_stream(batch_size=4)
    labels = torch.cat([stream.next_batch()[1] for _ in range(10)])  # 40 labels = 4 epochs
    for epoch in labels.view(4, NUM_IMAGES):
        assert torch.equal(epoch.sort().values, torch.arange(NUM_IMAGES))
    assert not torch.equal(labels[:NUM_IMAGES], labels[NUM_IMAGES : 2 * NUM_IMAGES])


def test_generic_dataset_gives_the_same_batches():
    dataset = make_dataset()
    direct, generic = make_stream(dataset), make_stream(Subset(dataset, range(NUM_IMAGES)))
    for _ in range(4):
        (x1, y1), (x2, y2) = direct.next_batch(), generic.next_batch()
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.parametrize("batches_before", [0, 1, 3])
def test_state_dict_round_trip(batches_before):
    original = make_stream(batch_size=4, seed=5)
    for _ in range(batches_before):  # 3 batches: mid-way through the second permutation
        original.next_batch()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as a checkpoint would
    buffer.seek(0)
    restored = make_stream(batch_size=4, seed=123)
    restored.load_state_dict(torch.load(buffer))
    for _ in range(5):
        (x1, y1), (x2, y2) = original.next_batch(), restored.next_batch()
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_state_of_another_dataset_size_is_refused():
    state = make_stream().state_dict()
    smaller = TensorImageDataset(
        images=torch.zeros((4, 3, 8, 8), dtype=torch.uint8),
        labels=torch.zeros(4, dtype=torch.int64),
    )
    with pytest.raises(GhnasError, match="10 training images but the training set has 4"):
        make_stream(smaller).load_state_dict(state)


def test_the_config_stream_reads_solver_input_and_seed():
    dataset = make_dataset()
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.IMS_PER_BATCH", 3, "INPUT.CROP_PADDING", 0, "SEED", 9])
    cfg.INPUT.HORIZONTAL_FLIP = False
    splits = DatasetSplits(train=dataset, val=dataset, meta=META)
    stream = train_stream_from_config(cfg, splits)
    x, y = stream.next_batch()
    assert x.shape == (3, 3, 8, 8)
    assert torch.equal(
        y, torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(9))[:3]
    )
    # Rank 1's stream has its own seed; rank 0's is the one-process stream.
    other = train_stream_from_config(cfg, splits, rank=1, world_size=2).next_batch()[1]
    assert not torch.equal(other, y)
    assert torch.equal(
        train_stream_from_config(cfg, splits, rank=0, world_size=2).next_batch()[1], y
    )


def test_evaluation_batches_subset_sizes_and_determinism():
    dataset = make_dataset()
    kwargs = dict(dataset=dataset, meta=META, num_images=7, batch_size=3, seed=4, device="cpu")
    batches = evaluation_batches(**kwargs)
    assert [y.numel() for _, y in batches] == [3, 3, 1]
    expected = (
        torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(4))[:7].sort().values
    )
    assert torch.equal(torch.cat([y for _, y in batches]), expected)
    for x, y in batches:
        for row, index in enumerate(y.tolist()):
            torch.testing.assert_close(
                x[row], manual_normalize(dataset.images[index]), rtol=0, atol=1e-6
            )
    again = evaluation_batches(**kwargs)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))

    everything = evaluation_batches(**{**kwargs, "num_images": 500, "batch_size": 250})
    assert len(everything) == 1 and torch.equal(everything[0][1], torch.arange(NUM_IMAGES))
