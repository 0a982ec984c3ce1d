"""One rank of tests/evaluation/test_correlation_ddp.py, started with torchrun's environment.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p \
        python correlation_ddp_worker.py WORK GHN

Runs the tiny correlation benchmark into ``WORK/ddp`` with the GHN checkpoint ``GHN`` (the
one-process run's), its own one-shot model and no zero-cost estimators, and leaves the summary
and the hashes of the architectures this rank trained in ``WORK/rank<r>.json``. Each rank's
ground-truth cache is a fresh folder of its own (``WORK/ddp_cache_rank<r>``), as on machines
that share no disk.
"""

import json
import os
import sys
from pathlib import Path

from tiny_correlation import run

from ghnas.engine.distributed import get_rank, shutdown
from ghnas.evaluation.ground_truth import GroundTruthTrainer

TOP = ["CORRELATION.TOP_COMPARE", "2", "CORRELATION.TOP_CANDIDATES", "6"]


def main(work: Path, ghn: str) -> None:
    trained, measure = [], GroundTruthTrainer.measure

    def recording(trainer, arch):
        trained.append(arch.canonical_hash)
        return measure(trainer, arch)

    GroundTruthTrainer.measure = recording
    cache = work / f"ddp_cache_rank{os.environ['RANK']}"
    summary = run(work / "ddp", cache, *TOP, "CORRELATION.GHN_CHECKPOINT", ghn,
                  "ZERO_COST.ESTIMATORS", "[]")  # fmt: skip
    (work / f"rank{get_rank()}.json").write_text(
        json.dumps({"trained": trained, "summary": summary})
    )
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
