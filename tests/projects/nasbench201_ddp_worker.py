"""One rank of tests/projects/test_nasbench201_ddp.py, started with torchrun's environment.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p \\
        python nasbench201_ddp_worker.py WORK TABLE DATA

Runs ``benchmark_ranking.py`` on a tiny sample into ``WORK/ddp`` (the GHN trained over both
ranks, then the sample scored by both) and leaves the hashes this rank scored in
``WORK/rank<r>.json``.
"""

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "NASBench201"
sys.path[:0] = [str(PROJECT)]

import benchmark_ranking  # noqa: E402

from ghnas.search import ArchitectureScorer  # noqa: E402

NUM_ARCHS = 10


def argv(out: Path, table: str, data: str):
    """The benchmark's arguments: a GHN of 2 steps at C=4, 10 architectures in chunks of 2."""
    return ["--config-file", str(PROJECT / "configs" / "quick.yaml"), "--num-archs",
            str(NUM_ARCHS), "--table", table, "--baseline-network", "4,1", "--bootstrap", "20",
            "--baseline-archs", "2", "--checkpoint-archs", "0", "--no-one-shot",
            "OUTPUT_DIR", str(out), "DATASETS.PATH", data, "SOLVER.MAX_ITER", "2",
            "NASBENCH201.CHANNELS", "4", "SEARCH.ARCH_BATCH", "2",
            "ZERO_COST.ESTIMATORS", "['naswot']", "ZERO_COST.BATCH_SIZE", "8"]  # fmt: skip


def main(work: Path, table: str, data: str) -> None:
    scored, evaluate = [], ArchitectureScorer.evaluate_chunk

    def recording(scorer, archs, networks=None):
        scored.extend(arch.canonical_hash for arch in archs)
        return evaluate(scorer, archs, networks)

    ArchitectureScorer.evaluate_chunk = recording
    args = benchmark_ranking.parser().parse_args(argv(work / "ddp", table, data))
    report = benchmark_ranking.main(args)
    rank = os.environ["RANK"]
    (work / f"rank{rank}.json").write_text(json.dumps({"scored": scored, "report": report}))
    from ghnas.engine.distributed import shutdown

    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
