"""Cutout in the training stream: one clipped square per image, reproducible and resumable."""

import torch

from ghnas.data import DatasetMetadata, TensorImageDataset, TrainBatchStream
from ghnas.data.batches import apply_cutout


def stream(seed=0, cutout=16, size=32):
    images = torch.full((20, 1, size, size), 255, dtype=torch.uint8)
    dataset = TensorImageDataset(images=images, labels=torch.zeros(20, dtype=torch.int64))
    meta = DatasetMetadata(1, 1, size, (0.0,), (1.0,))  # normalised pixels are all 1
    return TrainBatchStream(
        dataset=dataset, meta=meta, batch_size=8, device="cpu", crop_padding=0,
        horizontal_flip=False, seed=seed, cutout=cutout,
    )  # fmt: skip


def test_apply_cutout_zeroes_the_square_clipped_at_the_border():
    images = torch.ones(3, 2, 32, 32)
    apply_cutout(images, torch.tensor([[16, 16], [0, 0], [31, 5]]), 16)
    expected = torch.ones(3, 2, 32, 32)
    expected[0, :, 8:24, 8:24] = 0
    expected[1, :, 0:8, 0:8] = 0
    expected[2, :, 23:32, 0:13] = 0
    assert torch.equal(images, expected)


def test_every_image_has_one_square_of_side_16_clipped_at_the_border():
    x, _ = stream().next_batch()
    assert set(x.unique().tolist()) == {0.0, 1.0}
    for image in x[:, 0]:
        rows = (image == 0).any(1).nonzero().flatten()
        cols = (image == 0).any(0).nonzero().flatten()
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        assert int((image == 0).sum()) == (bottom - top) * (right - left)  # a full rectangle
        for start, end in ((top, bottom), (left, right)):
            assert end - start == 16 or start == 0 or end == 32
            assert 8 <= end - start <= 16  # a centre inside the image keeps half the side


def test_cutout_is_reproducible_from_the_seed_and_resumable():
    a, b = stream(seed=3), stream(seed=3)
    assert torch.equal(a.next_batch()[0], b.next_batch()[0])
    state = a.state_dict()
    expected = a.next_batch()[0]
    resumed = stream(seed=99)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.next_batch()[0], expected)
    assert not torch.equal(stream(seed=4).next_batch()[0], stream(seed=3).next_batch()[0])


def test_without_cutout_the_stream_is_unchanged():
    plain = stream(cutout=0)
    assert torch.equal(plain.next_batch()[0], torch.ones(8, 1, 32, 32))
