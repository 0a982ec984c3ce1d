"""One rank of tests/trainers/test_anytime_final_ddp.py, started with torchrun's environment.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p python anytime_ddp_worker.py WORK

Trains the best architecture of ``WORK/results.jsonl`` with ``anytime_final`` for two epochs
(``WORK/ddp``), and for one epoch and then a resumed second one (``WORK/ddp_split``). Each rank
leaves its final weights and the indices of every image it read in ``WORK/rank<r>.pt``.
"""

import sys
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS.parent)]

from ghnas.config import get_cfg  # noqa: E402
from ghnas.data import TrainBatchStream, build_dataset  # noqa: E402
from ghnas.engine.distributed import get_rank, init_from_torchrun_env, shutdown  # noqa: E402
from ghnas.trainers import build_trainer  # noqa: E402

EPOCHS = 2


def anytime_cfg(out: Path, results: Path, *extra: str):
    """A tiny anytime final run (digits at 8x8) of the architecture in ``results``; no warm-up,
    so that one epoch and a resumed one train exactly as two epochs do."""
    cfg = get_cfg()
    cfg.merge_from_list(
        ["OUTPUT_DIR", str(out), "SEARCH_SPACE.NAME", "anytime", "DATASETS.NAME", "digits",
         "DATASETS.VAL_SIZE", "200", "INPUT.SIZE", "8", "MODEL.INIT_CHANNELS", "4",
         "ANYTIME.BLOCK_NODES", "[3, 2, 2]", "ANYTIME.NUM_EXITS", "2", "ANYTIME.FLOP_BUDGET",
         "2e5", "SEARCH.CRITERION", "anytime_auc", "SEARCH.EVAL_BATCH_SIZE", "64",
         "FINAL.TRAINER", "anytime_final", "FINAL.EPOCHS", str(EPOCHS),
         "FINAL.IMS_PER_BATCH", "128", "FINAL.WARMUP_EPOCHS", "0",
         "FINAL.SEARCH_RESULTS", str(results), *extra]
    )  # fmt: skip
    cfg.freeze()
    return cfg


def recording_reads(read):
    """Wrap ``TrainBatchStream._next_indices`` so that every index a rank reads is kept."""
    seen = []

    def next_indices(stream):
        indices = read(stream)
        seen.append(indices.clone())
        return indices

    return seen, next_indices


def train(cfg, resume: bool = False):
    return build_trainer(cfg, build_dataset(cfg), "FINAL.TRAINER").train(resume=resume)


def main(work: Path) -> None:
    init_from_torchrun_env("cpu")
    results = work / "results.jsonl"
    seen, TrainBatchStream._next_indices = recording_reads(TrainBatchStream._next_indices)
    full = train(anytime_cfg(work / "ddp", results)).state_dict()
    read = torch.cat(seen)
    train(anytime_cfg(work / "ddp_split", results, "FINAL.EPOCHS", "1"))
    split = train(anytime_cfg(work / "ddp_split", results), resume=True).state_dict()
    torch.save({"full": full, "split": split, "read": read}, work / f"rank{get_rank()}.pt")
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
