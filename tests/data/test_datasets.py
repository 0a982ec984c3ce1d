"""The registered datasets against references computed here from the raw sources."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from ghnas.config import get_cfg
from ghnas.data import DATASET_REGISTRY, TensorImageDataset, build_dataset
from ghnas.utils.errors import GhnasError


def make_cfg(*overrides):
    """The default config with ``KEY VALUE`` overrides."""
    cfg = get_cfg()
    cfg.merge_from_list(list(overrides))
    return cfg


def reference_carve(num_train, val_size, seed):
    """The documented carve: the first VAL_SIZE entries of a seeded permutation are val."""
    permutation = torch.randperm(num_train, generator=torch.Generator().manual_seed(seed))
    return np.sort(permutation[val_size:].numpy()), np.sort(permutation[:val_size].numpy())


def numpy_mean_std(images_nchw_uint8):
    """Per-channel mean/std in [0, 1] units, computed with numpy in float64."""
    pixels = images_nchw_uint8.astype(np.float64) / 255.0
    return pixels.mean(axis=(0, 2, 3)), pixels.std(axis=(0, 2, 3))


def test_registry_holds_the_four_entries():
    assert sorted(name for name, _ in DATASET_REGISTRY) == [
        "cifar10",
        "digits",
        "image_folder",
        "npz",
    ]


def test_digits_splits_pixels_and_metadata():
    cfg = make_cfg("DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", 297, "INPUT.SIZE", 8, "SEED", 3)
    splits = build_dataset(cfg)
    bunch = load_digits()
    reference = np.rint(bunch.images * 255.0 / 16.0).astype(np.uint8)[:, None].repeat(3, axis=1)
    train_idx, val_idx = reference_carve(1797, 297, seed=3)

    assert isinstance(splits.train, TensorImageDataset) and splits.test is None
    assert (len(splits.train), len(splits.val)) == (1500, 297)
    np.testing.assert_array_equal(splits.train.images.numpy(), reference[train_idx])
    np.testing.assert_array_equal(splits.val.images.numpy(), reference[val_idx])
    np.testing.assert_array_equal(splits.train.labels.numpy(), bunch.target[train_idx])
    np.testing.assert_array_equal(splits.val.labels.numpy(), bunch.target[val_idx])

    meta = splits.meta
    assert (meta.num_classes, meta.channels, meta.image_size) == (10, 3, 8)
    mean, std = numpy_mean_std(reference[train_idx])
    np.testing.assert_allclose(meta.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(meta.std, std, rtol=1e-10)


def test_digits_resized_to_input_size_on_model_device():
    cfg = make_cfg("DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", 100, "INPUT.SIZE", 20)
    splits = build_dataset(cfg)
    assert splits.train.images.shape == (1697, 3, 20, 20)
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    assert splits.train.device == torch.device(cfg.MODEL.DEVICE)
    assert splits.meta.image_size == 20
    mean, std = numpy_mean_std(splits.train.images.numpy())
    np.testing.assert_allclose(splits.meta.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(splits.meta.std, std, rtol=1e-10)


def test_npz_real_cifar10_1k(cifar10_1k):
    cfg = make_cfg(
        "DATASETS.NAME", "npz", "DATASETS.PATH", str(cifar10_1k), "DATASETS.VAL_SIZE", 100
    )
    splits = build_dataset(cfg)
    raw = np.load(cifar10_1k)
    train_idx, val_idx = reference_carve(1000, 100, seed=cfg.SEED)

    assert (len(splits.train), len(splits.val), len(splits.test)) == (900, 100, 500)
    assert (splits.meta.num_classes, splits.meta.channels, splits.meta.image_size) == (10, 3, 32)
    for row in (0, 1, 457, 899):
        image, label = splits.train[row]
        np.testing.assert_array_equal(
            image.permute(1, 2, 0).numpy(), raw["x_train"][train_idx[row]]
        )
        assert int(label) == raw["y_train"][train_idx[row]]
    np.testing.assert_array_equal(splits.val.labels.numpy(), raw["y_train"][val_idx])
    np.testing.assert_array_equal(splits.test.labels.numpy(), raw["y_test"])
    np.testing.assert_array_equal(
        splits.test.images[123].permute(1, 2, 0).numpy(), raw["x_test"][123]
    )
    mean, std = numpy_mean_std(raw["x_train"][train_idx].transpose(0, 3, 1, 2))
    np.testing.assert_allclose(splits.meta.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(splits.meta.std, std, rtol=1e-10)


def test_npz_resize_matches_pil_bilinear(cifar10_1k):
    cfg = make_cfg("DATASETS.NAME", "npz", "DATASETS.PATH", str(cifar10_1k), "INPUT.SIZE", 16)
    cfg.DATASETS.VAL_SIZE = 100
    splits = build_dataset(cfg)
    assert splits.train.images.shape == (900, 3, 16, 16) and splits.meta.image_size == 16
    assert splits.test.images.shape == (500, 3, 16, 16)
    raw = np.load(cifar10_1k)["x_test"][:8]
    # PIL's bilinear downscale is antialiased: it and ours agree to one grey level.
    reference = np.stack(
        [np.asarray(Image.fromarray(a).resize((16, 16), Image.BILINEAR)) for a in raw]
    )
    ours = splits.test.images[:8].permute(0, 2, 3, 1).numpy().astype(int)
    assert np.abs(ours - reference.astype(int)).max() <= 1


def test_npz_grayscale_keeps_one_channel(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "gray.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (30, 10, 10), dtype=np.uint8),
        y_train=rng.integers(0, 4, 30).astype(np.int32),
        x_test=rng.integers(0, 256, (5, 10, 10), dtype=np.uint8),
        y_test=np.array([0, 1, 2, 3, 6]),
    )
    cfg = make_cfg("DATASETS.NAME", "npz", "DATASETS.PATH", str(path), "DATASETS.VAL_SIZE", 5)
    cfg.INPUT.SIZE = 10
    splits = build_dataset(cfg)
    assert splits.meta.channels == 1 and len(splits.meta.mean) == 1
    assert splits.meta.num_classes == 7  # largest label of either split + 1
    assert splits.train.images.shape == (25, 1, 10, 10)


def _npz_cfg(path):
    return make_cfg("DATASETS.NAME", "npz", "DATASETS.PATH", str(path), "DATASETS.VAL_SIZE", 2)


def test_npz_missing_file(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(GhnasError, match="DATASETS.PATH") as info:
        build_dataset(_npz_cfg(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_npz_not_an_npz(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("not arrays")
    with pytest.raises(GhnasError, match=r"DATASETS.PATH=.*notes.npz is not an .npz"):
        build_dataset(_npz_cfg(path))


def test_npz_missing_array(tmp_path):
    path = tmp_path / "partial.npz"
    x = np.zeros((4, 8, 8, 3), np.uint8)
    np.savez(path, x_train=x, y_train=np.zeros(4, np.int64), x_test=x)
    with pytest.raises(GhnasError, match=r"DATASETS.PATH=.*partial.npz lacks array\(s\) y_test"):
        build_dataset(_npz_cfg(path))


def test_npz_mismatched_lengths(tmp_path):
    path = tmp_path / "mismatch.npz"
    x = np.zeros((4, 8, 8, 3), np.uint8)
    np.savez(path, x_train=x, y_train=np.zeros(3, np.int64), x_test=x, y_test=np.zeros(4, np.int64))
    with pytest.raises(GhnasError, match="x_train has 4 images but y_train has 3 labels") as info:
        build_dataset(_npz_cfg(path))
    assert "DATASETS.PATH" in str(info.value) and "mismatch.npz" in str(info.value)


@pytest.mark.parametrize("val_size", [5000, 1797, 0])
def test_val_size_out_of_range(val_size):
    cfg = make_cfg("DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", val_size)
    with pytest.raises(GhnasError, match=f"DATASETS.VAL_SIZE={val_size} must be") as info:
        build_dataset(cfg)
    if val_size:
        assert "smaller than the training set (1797 images)" in str(info.value)


def test_digits_test_split_is_carved_disjoint_and_leaves_validation_unchanged():
    common = ("DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", 297, "INPUT.SIZE", 8)
    plain = build_dataset(make_cfg(*common))
    cfg = make_cfg(*common, "DATASETS.TEST_SIZE", 300)
    splits = build_dataset(cfg)
    permutation = torch.randperm(1797, generator=torch.Generator().manual_seed(cfg.SEED))
    expected_test = np.sort(permutation[297:597].numpy())
    expected_train = np.sort(permutation[597:].numpy())
    reference = np.rint(load_digits().images * 255.0 / 16.0).astype(np.uint8)[:, None]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1200, 297, 300)
    np.testing.assert_array_equal(splits.test.images.numpy(), reference[expected_test].repeat(3, 1))
    np.testing.assert_array_equal(
        splits.train.images.numpy(), reference[expected_train].repeat(3, 1)
    )
    np.testing.assert_array_equal(splits.val.images.numpy(), plain.val.images.numpy())


def test_test_size_errors():
    too_many = make_cfg(
        "DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", 900, "DATASETS.TEST_SIZE", 900
    )
    with pytest.raises(GhnasError, match=r"VAL_SIZE \+ DATASETS.TEST_SIZE=1800 must be smaller"):
        build_dataset(too_many)
    with pytest.raises(GhnasError, match="TEST_SIZE=-1 must be >= 0"):
        build_dataset(make_cfg("DATASETS.NAME", "digits", "DATASETS.TEST_SIZE", -1))


def test_test_size_refused_when_the_dataset_has_a_test_split(tmp_path):
    path = tmp_path / "small.npz"
    x = np.zeros((6, 8, 8, 3), np.uint8)
    np.savez(path, x_train=x, y_train=np.arange(6) % 2, x_test=x, y_test=np.zeros(6, np.int64))
    cfg = _npz_cfg(path)
    cfg.merge_from_list(["DATASETS.TEST_SIZE", 2])
    with pytest.raises(GhnasError, match="has its own test split; set DATASETS.TEST_SIZE to 0"):
        build_dataset(cfg)


def test_unknown_name_lists_registered():
    with pytest.raises(GhnasError, match="DATASETS.NAME") as info:
        build_dataset(make_cfg("DATASETS.NAME", "imagenet"))
    assert "cifar10, digits, image_folder, npz" in str(info.value)


def test_cifar10_missing_without_download(tmp_path):
    cfg = make_cfg("DATASETS.NAME", "cifar10", "DATASETS.ROOT", str(tmp_path))
    with pytest.raises(GhnasError, match="DATASETS.ROOT") as info:
        build_dataset(cfg)
    assert "DATASETS.DOWNLOAD True" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded


COLOURS = {
    "cat": [(250, 10, 10), (200, 40, 0), (255, 0, 60), (180, 20, 20), (230, 70, 30)],
    "dog": [(0, 0, 240), (10, 90, 200), (30, 30, 255), (0, 60, 180)],
}


def _write_image_folder(root):
    """Solid-colour PNGs (any resize of a solid image is that colour) of several sizes."""
    for name, colours in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i, colour in enumerate(colours):
            size = (20 + 3 * i, 14 + 5 * i)
            mode = "L" if (name, i) == ("dog", 3) else "RGB"  # grayscale is converted to RGB
            value = colour[0] if mode == "L" else colour
            Image.new(mode, size, value).save(root / name / f"{i}.png")


def test_image_folder_splits(tmp_path):
    _write_image_folder(tmp_path)
    cfg = make_cfg("DATASETS.NAME", "image_folder", "DATASETS.ROOT", str(tmp_path))
    cfg.merge_from_list(["DATASETS.VAL_SIZE", 3, "INPUT.SIZE", 12])
    splits = build_dataset(cfg)
    assert (len(splits.train), len(splits.val), splits.test) == (6, 3, None)
    meta = splits.meta
    assert (meta.num_classes, meta.channels, meta.image_size) == (2, 3, 12)

    expected = [(c, 0) for c in COLOURS["cat"]] + [(c, 1) for c in COLOURS["dog"]]
    expected[-1] = ((0, 0, 0), 1)  # the grayscale image: value 0 in every channel
    train_idx, val_idx = reference_carve(9, 3, seed=cfg.SEED)
    train_images = []
    for dataset, indices in ((splits.train, train_idx), (splits.val, val_idx)):
        for position, index in enumerate(indices):
            image, label = dataset[position]
            colour, expected_label = expected[index]
            assert image.dtype == torch.uint8 and image.shape == (3, 12, 12)
            assert label == expected_label
            assert torch.equal(
                image, torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1).expand(3, 12, 12)
            )
            if dataset is splits.train:
                train_images.append(image.numpy())
    mean, std = numpy_mean_std(np.stack(train_images))  # all 6 < 512: the exact statistics
    np.testing.assert_allclose(meta.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(meta.std, std, rtol=1e-10)


@pytest.mark.parametrize("make_root", ["missing", "empty"])
def test_image_folder_bad_root(tmp_path, make_root):
    root = tmp_path / "images"
    if make_root == "empty":
        root.mkdir()
    cfg = make_cfg("DATASETS.NAME", "image_folder", "DATASETS.ROOT", str(root))
    with pytest.raises(GhnasError, match="DATASETS.ROOT") as info:
        build_dataset(cfg)
    assert str(root) in str(info.value) and "\n" not in str(info.value)
