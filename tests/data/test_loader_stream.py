"""The image-folder input pipeline: DataLoader workers, a DistributedSampler that deals each
epoch out to the ranks, ImageNet-style transforms, and a resumable position."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_launch import WORLD_SIZE, launch
from loader_ddp_worker import EPOCHS, folder_cfg
from PIL import Image

from ghnas.data import build_dataset
from ghnas.data.image_folder import eval_transform, train_transform
from ghnas.data.loader_stream import LoaderStream
from ghnas.data.train_streams import train_stream_from_config
from ghnas.utils.errors import GhnasError

WORKER = Path(__file__).with_name("loader_ddp_worker.py")
NUM_IMAGES = 24  # 20 for training after 4 for validation: 10 per rank, 3 batches of 3 each


def write_folder(root: Path, count: int = NUM_IMAGES) -> None:
    """One image per class, of assorted sizes, so that a label names its image."""
    rng = np.random.default_rng(0)
    for i in range(count):
        (root / f"c{i:02d}").mkdir(parents=True)
        pixels = rng.integers(0, 256, (10 + i % 5, 14 + i % 3, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"c{i:02d}" / "0.png")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("loader")
    write_folder(work / "images")
    launch(WORKER, work, timeout=180)
    return work


def test_two_ranks_read_every_image_at_most_once_per_epoch(work):
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    splits = build_dataset(folder_cfg(work))
    train_labels = {splits.train.folder.samples[i][1] for i in splits.train.indices}
    orders = []
    for epoch in range(EPOCHS):
        read = [label for rank in ranks for batch in rank[epoch] for label in batch]
        assert len(read) == len(set(read)) == 18, epoch  # 3 batches of 3 on each rank
        assert set(read) <= train_labels  # never a validation image
        orders.append(read)
    assert orders[0] != orders[1]  # a new permutation each epoch


def test_a_resumed_stream_reads_the_images_an_unbroken_one_reads(tmp_path):
    write_folder(tmp_path / "images")
    cfg = folder_cfg(tmp_path)
    splits = build_dataset(cfg)
    unbroken = train_stream_from_config(cfg, splits)
    assert isinstance(unbroken, LoaderStream)
    labels = [unbroken.next_batch()[1].tolist() for _ in range(8)]  # across an epoch's end
    first = train_stream_from_config(cfg, splits)
    for _ in range(4):
        first.next_batch()
    resumed = train_stream_from_config(cfg, splits)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.next_batch()[1].tolist() for _ in range(4)] == labels[4:]


def test_batches_are_normalised_augmented_images_of_the_input_size(tmp_path):
    write_folder(tmp_path / "images")
    cfg = folder_cfg(tmp_path)
    splits = build_dataset(cfg)
    x, y = train_stream_from_config(cfg, splits).next_batch()
    assert x.shape == (3, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    mean = torch.tensor(splits.meta.mean).view(1, 3, 1, 1)
    std = torch.tensor(splits.meta.std).view(1, 3, 1, 1)
    pixels = x * std + mean  # back in [0, 1]
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    assert splits.val[0][0].shape == (3, 8, 8) and splits.val[0][0].dtype == torch.uint8


def test_the_transforms_crop_at_random_for_training_and_centrally_for_evaluation():
    # A 40 x 20 image whose left half is black and right half white.
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = 255
    image = Image.fromarray(pixels)
    centre = eval_transform(16)(image)  # shorter side to round(16 / 0.875) = 18, then 16 x 16
    assert centre.shape == (3, 16, 16)
    # The resized image is 36 x 18; its central 16 columns straddle the edge at column 18.
    assert centre[:, :, :6].max() == 0 and centre[:, :, -6:].min() == 255
    torch.manual_seed(0)
    crops = torch.stack([train_transform(16, horizontal_flip=True)(image) for _ in range(20)])
    assert crops.shape == (20, 3, 16, 16)
    assert len({c.float().mean().item() for c in crops}) > 5  # crops of other places and scales


def test_a_folder_smaller_than_one_batch_per_rank_is_one_line(tmp_path):
    write_folder(tmp_path / "images", count=8)
    cfg = folder_cfg(tmp_path)
    cfg.merge_from_list(["SOLVER.IMS_PER_BATCH", "3"])
    with pytest.raises(GhnasError, match="one full batch per process") as info:
        train_stream_from_config(cfg, build_dataset(cfg), rank=0, world_size=2)
    assert "\n" not in str(info.value)


def test_accuracy_over_a_folder_through_workers_equals_a_loop_over_its_images(tmp_path):
    """A template classifier that knows half the validation images: the accuracy read through
    the workers (batches of 4, the last of 2) equals a loop over the images one by one."""
    from ghnas.trainers.classification_run import dataset_accuracy

    write_folder(tmp_path / "images")
    cfg = folder_cfg(tmp_path)
    cfg.merge_from_list(["DATASETS.VAL_SIZE", "10"])
    splits = build_dataset(cfg)
    mean = torch.tensor(splits.meta.mean).view(3, 1, 1)
    std = torch.tensor(splits.meta.std).view(3, 1, 1)
    items = [splits.val[i] for i in range(len(splits.val))]
    inputs = [((image.float() / 255 - mean) / std).flatten() for image, _ in items]
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, NUM_IMAGES))
    with torch.no_grad():
        network[1].weight.zero_(), network[1].bias.zero_()
        for x, (_, label) in list(zip(inputs, items))[:5]:
            network[1].weight[label] = x
    hits = [int(network(x[None]).argmax(1)) == label for x, (_, label) in zip(inputs, items)]
    got = dataset_accuracy(network, splits.val, splits.meta, batch_size=4, device="cpu",
                           num_workers=1)  # fmt: skip
    assert 5 <= sum(hits) < len(hits) and got == pytest.approx(sum(hits) / len(hits))
