"""Which data a result was computed on: a small JSON-able fingerprint of the configured dataset.

Caches keyed by it (the correlation benchmark's ground truth) are reused only on the same
images: the same file contents for ``npz``, the same files for ``cifar10`` and ``image_folder``,
and the same carving, resizing and augmentation settings.
"""

import hashlib
import os
from typing import Any, Dict

from fvcore.common.config import CfgNode

from ghnas.data.tensor_dataset import split_seed
from ghnas.utils.file_io import PathManager

__all__ = ["dataset_fingerprint"]

_FILE_DIGESTS: Dict[tuple, str] = {}  # (path, size, mtime) -> sha256: hash a big file once


def dataset_fingerprint(cfg: CfgNode) -> Dict[str, Any]:
    """The dataset name, a digest of its files and every setting that shapes its splits."""
    name = cfg.DATASETS.NAME
    fingerprint: Dict[str, Any] = {
        "name": name,
        "val_size": cfg.DATASETS.VAL_SIZE,
        "test_size": cfg.DATASETS.TEST_SIZE,
        "input": {k: cfg.INPUT[k] for k in sorted(cfg.INPUT)},
        "split_seed": split_seed(cfg),
    }
    if name == "npz":
        fingerprint["sha256"] = file_sha256(cfg.DATASETS.PATH)
    elif name in ("cifar10", "image_folder"):
        fingerprint["files"] = _directory_digest(cfg.DATASETS.ROOT)
    return fingerprint


def file_sha256(path: str) -> str:
    """SHA-256 of the file at ``path`` (remembered per path, size and modification time)."""
    local = PathManager.get_local_path(path)
    stat = os.stat(local)
    key = (os.path.abspath(local), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with open(local, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]


def _directory_digest(root: str) -> str:
    """SHA-256 of the relative paths and sizes of every file under ``root``."""
    digest = hashlib.sha256()
    for directory, subdirs, files in sorted(os.walk(root)):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            digest.update(f"{os.path.relpath(path, root)}:{os.path.getsize(path)}\n".encode())
    return digest.hexdigest()
