"""One rank of tests/evaluation/test_correlation_ddp.py, started with torchrun's environment.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p python correlation_ddp_worker.py WORK

Runs the tiny correlation benchmark into ``WORK/ddp`` with the GHN of the one-process run in
``WORK/single`` and its own one-shot model, and leaves the summary and the hashes of the
architectures this rank trained in ``WORK/rank<r>.json``. Each rank's ground-truth cache is a
fresh folder of its own (``WORK/ddp_cache_rank<r>``), as on machines that share no disk.
"""

import json
import os
import sys
from pathlib import Path

from tiny_correlation import run

from ghnas.engine.distributed import get_rank, shutdown
from ghnas.evaluation.ground_truth import GroundTruthTrainer

TOP = ["CORRELATION.TOP_COMPARE", "2", "CORRELATION.TOP_CANDIDATES", "6"]


def main(work: Path) -> None:
    trained, measure = [], GroundTruthTrainer.measure

    def recording(trainer, arch):
        trained.append(arch.canonical_hash)
        return measure(trainer, arch)

    GroundTruthTrainer.measure = recording
    ghn = work / "single" / "ghn" / "model_final.pth"
    cache = work / f"ddp_cache_rank{os.environ['RANK']}"
    summary = run(work / "ddp", cache, *TOP, "CORRELATION.GHN_CHECKPOINT", ghn)
    (work / f"rank{get_rank()}.json").write_text(
        json.dumps({"trained": trained, "summary": summary})
    )
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
