#!/usr/bin/env python
"""How fast the image-folder training stream feeds a trainer, with and without workers.

    python benchmarks/image_folder_loader.py [--images 512] [--size 224] [--workers 0,1,2]
    python benchmarks/image_folder_loader.py --tiny   # seconds: every code path, tiny sizes

Writes a temporary ImageFolder of JPEGs at ImageNet's typical size (500 x 375, 10 classes),
then times ``train_stream`` over it (decode, random-resized crop to ``--size``, flip, batch,
normalise) for each ``DATALOADER.NUM_WORKERS`` in ``--workers``, and prints images/s with the
ratio to 0 workers (every image decoded in the training process, as before the DataLoader).
Each setting reads the same number of batches after one warm-up batch.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tabulate import tabulate

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.train_streams import train_stream_from_config
from ghnas.engine import run_cli
from ghnas.utils.errors import GhnasError


def write_folder(root: Path, images: int, width: int, height: int) -> None:
    """``images`` random JPEGs in 10 class folders."""
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)


def images_per_second(root: Path, size: int, workers: int, batch: int, batches: int) -> float:
    """Images/s of the training stream of ``root`` with ``workers`` DataLoader workers."""
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.NAME", "image_folder", "DATASETS.ROOT", str(root),
                         "DATASETS.VAL_SIZE", "10", "INPUT.SIZE", str(size), "MODEL.DEVICE",
                         "cpu", "SOLVER.IMS_PER_BATCH", str(batch),
                         "DATALOADER.NUM_WORKERS", str(workers)])  # fmt: skip
    stream = train_stream_from_config(cfg, build_dataset(cfg))
    stream.next_batch()  # starts the workers; not timed
    start = time.perf_counter()
    for _ in range(batches):
        stream.next_batch()
    return batches * batch / (time.perf_counter() - start)


def main(args) -> list:
    """The table's rows: workers, images/s, ratio to 0 workers."""
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        raise GhnasError(
            f"--workers must be comma-separated counts, got {args.workers!r}"
        ) from None
    if args.tiny:
        args.images, args.size, args.batch, args.batches = 40, 32, 4, 3
        workers, (width, height) = [0, 1], (64, 48)
    else:
        width, height = 500, 375
    if 0 not in workers:
        workers = [0, *workers]
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.images, width, height)
        rates = {w: images_per_second(Path(tmp), args.size, w, args.batch, args.batches)
                 for w in workers}  # fmt: skip
    rows = [[w, f"{rate:.1f}", f"{rate / rates[0]:.2f}x"] for w, rate in rates.items()]
    print(f"{args.images} JPEGs of {width}x{height} to {args.size}x{args.size}, batch {args.batch}")
    print(tabulate(rows, headers=["workers", "images/s", "vs 0 workers"], tablefmt="github"))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=512, help="JPEGs written")
    p.add_argument("--size", type=int, default=224, help="INPUT.SIZE of the crops")
    p.add_argument("--batch", type=int, default=32, help="images per batch")
    p.add_argument("--batches", type=int, default=12, help="batches timed per setting")
    p.add_argument("--workers", default="0,1,2", help="DATALOADER.NUM_WORKERS values to time")
    p.add_argument("--tiny", action="store_true", help="tiny sizes, 0 and 1 workers (a test)")
    return p


if __name__ == "__main__":
    sys.exit(run_cli(main, parser().parse_args()))
