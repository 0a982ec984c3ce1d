"""One rank of tests/data/test_loader_stream.py, started with torchrun's environment.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p python loader_ddp_worker.py WORK

Reads two epochs of the training stream of the image folder ``WORK/images`` (one image per
class, so a label names its image) through one DataLoader worker, and leaves the labels of
every batch in ``WORK/rank<r>.json``.
"""

import json
import sys
from pathlib import Path

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.train_streams import train_stream_from_config
from ghnas.engine.distributed import get_rank, get_world_size, init_from_torchrun_env, shutdown

EPOCHS = 2


def folder_cfg(work: Path):
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.NAME", "image_folder", "DATASETS.ROOT", str(work / "images"),
                         "DATASETS.VAL_SIZE", "4", "INPUT.SIZE", "8", "SOLVER.IMS_PER_BATCH", "3",
                         "DATALOADER.NUM_WORKERS", "1", "MODEL.DEVICE", "cpu"])  # fmt: skip
    return cfg


def main(work: Path) -> None:
    init_from_torchrun_env("cpu")
    cfg = folder_cfg(work)
    stream = train_stream_from_config(
        cfg, build_dataset(cfg), rank=get_rank(), world_size=get_world_size()
    )
    epochs = [[stream.next_batch()[1].tolist() for _ in range(stream.batches_per_epoch())]
              for _ in range(EPOCHS)]  # fmt: skip
    (work / f"rank{get_rank()}.json").write_text(json.dumps(epochs))
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
