"""The in-memory dataset entries: ``digits``, ``npz`` and ``cifar10``.

Each loads its images as one uint8 ``(N, C, H, W)`` tensor and hands it to
:func:`in_memory_splits`, which resizes to ``INPUT.SIZE``, carves the validation set, computes
the metadata and (``DATASETS.ON_DEVICE``) moves everything to ``MODEL.DEVICE``. The lazy
``image_folder`` entry lives in ``image_folder.py``.
"""

import os
import zipfile
from typing import Optional

import numpy as np
import torch
import torchvision
from fvcore.common.config import CfgNode
from torch import Tensor

from ghnas.data.build import DATASET_REGISTRY
from ghnas.data.metadata import DatasetSplits
from ghnas.data.tensor_dataset import (
    TensorImageDataset,
    carve_splits,
    checked_input_size,
    image_metadata,
    resize_images,
    split_seed,
)
from ghnas.utils.errors import GhnasError

__all__ = ["in_memory_splits", "digits", "npz", "cifar10"]

_NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def in_memory_splits(
    cfg: CfgNode,
    *,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    test_images: Optional[Tensor] = None,
    test_labels: Optional[Tensor] = None,
) -> DatasetSplits:
    """Turn a training set (and optional test set) held in memory into ``DatasetSplits``.

    Args:
        cfg: The full config (INPUT.SIZE, DATASETS.VAL_SIZE, DATASETS.ON_DEVICE, MODEL.DEVICE,
            SEED).
        images: uint8 ``(N, C, H, W)`` training images at their native size.
        labels: int64 ``(N,)`` labels in ``[0, num_classes)``.
        num_classes: Number of classes.
        test_images: Optional uint8 ``(M, C, H', W')`` test images.
        test_labels: Their int64 ``(M,)`` labels.

    Returns:
        Train/val carved from ``images``, test from ``test_images`` (or carved from ``images``
        when ``DATASETS.TEST_SIZE`` > 0), metadata from train pixels.
    """
    size = checked_input_size(cfg.INPUT.SIZE)
    classes = int(torch.unique(labels).numel())
    if classes < 2:
        raise GhnasError(
            f"dataset '{cfg.DATASETS.NAME}': its training images hold {classes} class; ranking "
            "architectures needs at least 2 (every network would score 100%)"
        )
    has_test = test_images is not None and test_labels is not None
    if has_test and cfg.DATASETS.TEST_SIZE:
        raise GhnasError(
            f"DATASETS.TEST_SIZE={cfg.DATASETS.TEST_SIZE}: dataset '{cfg.DATASETS.NAME}' has "
            "its own test split; set DATASETS.TEST_SIZE to 0"
        )
    # Carve before resizing: a bad VAL_SIZE fails before any expensive work.
    train_idx, val_idx, test_idx = carve_splits(
        images.shape[0], val_size=cfg.DATASETS.VAL_SIZE, seed=split_seed(cfg),
        test_size=cfg.DATASETS.TEST_SIZE,
    )  # fmt: skip
    full = TensorImageDataset(images=resize_images(images, size), labels=labels)
    train, val = full.subset(train_idx), full.subset(val_idx)
    meta = image_metadata(train.images, num_classes=num_classes)
    test = full.subset(test_idx) if test_idx is not None else None
    if has_test:
        test = TensorImageDataset(images=resize_images(test_images, size), labels=test_labels)
    if cfg.DATASETS.ON_DEVICE:
        device = torch.device(cfg.MODEL.DEVICE)
        train, val = train.to(device), val.to(device)
        test = test.to(device) if test is not None else None
    return DatasetSplits(train=train, val=val, meta=meta, test=test)


@DATASET_REGISTRY.register()
def digits(cfg: CfgNode) -> DatasetSplits:
    """scikit-learn's bundled handwritten digits: 1,797 8x8 images, 10 classes, no test set
    of its own (``DATASETS.TEST_SIZE`` carves one).

    Pixel values 0..16 are scaled to 0..255 and replicated to 3 channels, so the quick start
    exercises the same RGB networks as CIFAR-10.
    """
    # Imported here: scikit-learn takes a second to import and only this entry needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    images = torch.from_numpy(pixels)[:, None].expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return in_memory_splits(cfg, images=images, labels=labels, num_classes=10)


@DATASET_REGISTRY.register()
def npz(cfg: CfgNode) -> DatasetSplits:
    """A numpy ``.npz`` file (``DATASETS.PATH``) with ``x_train, y_train, x_test, y_test``.

    Images are uint8, ``(N, H, W, C)`` with C 1 or 3, or grayscale ``(N, H, W)`` (kept as one
    channel); labels are non-negative integers, ``(N,)`` or ``(N, 1)``. ``num_classes`` is the
    largest label of either split plus one.
    """
    path = cfg.DATASETS.PATH
    arrays = _read_npz(path)
    x_train = _nchw_images(arrays["x_train"], "x_train", path)
    x_test = _nchw_images(arrays["x_test"], "x_test", path)
    y_train = _labels(arrays["y_train"], "y_train", x_train.shape[0], "x_train", path)
    y_test = _labels(arrays["y_test"], "y_test", x_test.shape[0], "x_test", path)
    if x_train.shape[1] != x_test.shape[1]:
        raise GhnasError(
            f"DATASETS.PATH={path}: x_train has {x_train.shape[1]} channel(s) but x_test has "
            f"{x_test.shape[1]}; expected the same"
        )
    num_classes = int(torch.cat([y_train, y_test]).max()) + 1
    return in_memory_splits(
        cfg,
        images=x_train,
        labels=y_train,
        num_classes=num_classes,
        test_images=x_test,
        test_labels=y_test,
    )


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """The four arrays of the npz file ``path``, or a one-line GhnasError saying what is wrong."""
    expected = ", ".join(_NPZ_ARRAYS)
    if not path:
        raise GhnasError(f"DATASETS.PATH is empty; the 'npz' dataset needs a file with {expected}")
    if not os.path.isfile(path):
        raise GhnasError(f"DATASETS.PATH: file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise GhnasError(
            f"DATASETS.PATH={path} is not an .npz file; expected numpy.savez arrays {expected}"
        )
    try:
        # allow_pickle=False: a data file must never run code when it is read.
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in _NPZ_ARRAYS if name not in archive.files]
            if missing:
                found = ", ".join(archive.files) or "none"
                raise GhnasError(
                    f"DATASETS.PATH={path} lacks array(s) {', '.join(missing)}; expected "
                    f"{expected} (found: {found})"
                )
            return {name: archive[name] for name in _NPZ_ARRAYS}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        reason = " ".join(str(e).split())
        raise GhnasError(f"DATASETS.PATH={path}: cannot read the arrays: {reason}") from None


def _nchw_images(array: np.ndarray, name: str, path: str) -> Tensor:
    """An npz image array as a uint8 ``(N, C, H, W)`` tensor (checked)."""
    if array.dtype != np.uint8:
        raise GhnasError(
            f"DATASETS.PATH={path}: {name} has dtype {array.dtype}; expected uint8 pixels 0..255"
        )
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or array.shape[0] == 0:
        raise GhnasError(
            f"DATASETS.PATH={path}: {name} has shape {array.shape}; expected (N, H, W, C) with "
            f"C 1 or 3, or grayscale (N, H, W), and N >= 1"
        )
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()


def _labels(array: np.ndarray, name: str, num_images: int, images_name: str, path: str) -> Tensor:
    """An npz label array as an int64 ``(N,)`` tensor (checked against its images)."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # Keras-style (N, 1) labels.
    if array.dtype.kind not in "iu" or array.ndim != 1:
        raise GhnasError(
            f"DATASETS.PATH={path}: {name} has dtype {array.dtype} and shape {array.shape}; "
            f"expected integer labels of shape (N,)"
        )
    if array.shape[0] != num_images:
        raise GhnasError(
            f"DATASETS.PATH={path}: {images_name} has {num_images} images but {name} has "
            f"{array.shape[0]} labels; expected one label per image"
        )
    labels = torch.from_numpy(array.astype(np.int64))
    if labels.numel() and int(labels.min()) < 0:
        raise GhnasError(f"DATASETS.PATH={path}: {name} has negative labels; expected >= 0")
    return labels


@DATASET_REGISTRY.register()
def cifar10(cfg: CfgNode) -> DatasetSplits:
    """CIFAR-10 through torchvision (``DATASETS.ROOT``, ``DATASETS.DOWNLOAD``): 50,000 training
    images (train/val), 10,000 test images, 10 classes."""
    root = cfg.DATASETS.ROOT
    # Download (when asked) once: the first call fetches the whole archive, both splits.
    x_train, y_train = _load_cifar10(root, train=True, download=cfg.DATASETS.DOWNLOAD)
    x_test, y_test = _load_cifar10(root, train=False, download=False)
    return in_memory_splits(
        cfg,
        images=x_train,
        labels=y_train,
        num_classes=10,
        test_images=x_test,
        test_labels=y_test,
    )


def _load_cifar10(root: str, *, train: bool, download: bool) -> tuple[Tensor, Tensor]:
    """One CIFAR-10 split as uint8 NCHW images and int64 labels."""
    try:
        dataset = torchvision.datasets.CIFAR10(root=root, train=train, download=download)
    except RuntimeError as e:
        if "not found or corrupted" not in str(e):
            raise
        raise GhnasError(
            f"DATASETS.ROOT={root}: CIFAR-10 not found or corrupted (torchvision looks for "
            f"{os.path.join(root, 'cifar-10-batches-py')}); set DATASETS.DOWNLOAD True to "
            f"download it, or offline put cifar-10-python.tar.gz in {root} and set "
            f"DATASETS.DOWNLOAD True (the archive is then only checked and unpacked), or use "
            f"an arrays file: DATASETS.NAME npz DATASETS.PATH <file.npz>"
        ) from None
    except OSError as e:  # urllib's URLError is an OSError: the download failed.
        reason = " ".join(str(e).split())
        raise GhnasError(
            f"DATASETS.DOWNLOAD: downloading CIFAR-10 into DATASETS.ROOT={root} failed: {reason}"
        ) from None
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return images, labels
