"""One rank of tests/engine/test_distributed.py, started with torchrun's environment variables.

    WORLD_SIZE=2 RANK=r MASTER_ADDR=127.0.0.1 MASTER_PORT=p python ddp_worker.py WORK_DIR

It trains the tiny GHN for one step (``WORK/ddp_ghn``), trains it for two steps at once
(``WORK/ddp_full``) and as one step plus a resumed one (``WORK/ddp_split``), resumes the
finished one-process GHN of ``WORK/single_ghn`` (and fails to continue it), then ranks the
candidates with the GHN in ``WORK/single_ghn`` (``WORK/ddp_search``), and scores
:func:`shared_sample` with that GHN and with the training-free baselines, shared between the
ranks. Each rank leaves what the test compares in ``WORK/rank<r>.pt`` and ``WORK/rank<r>.json``.
"""

import json
import sys
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

from tiny_config import TINY_OVERRIDES  # noqa: E402

from ghnas.config import get_cfg  # noqa: E402
from ghnas.data import build_dataset  # noqa: E402
from ghnas.engine.distributed import get_rank, init_from_torchrun_env, shutdown  # noqa: E402
from ghnas.evaluation.correlation_estimators import static_estimators  # noqa: E402
from ghnas.search import RandomSearch  # noqa: E402
from ghnas.search.candidates import sample_distinct  # noqa: E402
from ghnas.trainers import GHNTrainer  # noqa: E402
from ghnas.utils.errors import GhnasError  # noqa: E402

QUICK = TESTS.parent / "configs" / "quick" / "classification.yaml"
# Three candidates a chunk: the 12 candidates make 4 chunks, 2 for each of 2 ranks.
SEARCH_OVERRIDES = ["SEARCH.ARCH_BATCH", "3"]


def tiny_cfg(out_dir: Path, *extra: str):
    """The tiny config of the engine tests writing under ``out_dir``."""
    cfg = get_cfg()
    cfg.merge_from_file(str(QUICK))
    cfg.merge_from_list([*TINY_OVERRIDES, "OUTPUT_DIR", str(out_dir), *extra])
    cfg.freeze()
    return cfg


def train(out_dir: Path, max_iter: int, *extra: str, resume: bool = False):
    """The GHN after ``max_iter`` steps of the tiny config (continuing a run with ``resume``)."""
    cfg = tiny_cfg(out_dir, "SOLVER.MAX_ITER", str(max_iter), *extra)
    return GHNTrainer.from_config(cfg, build_dataset(cfg)).train(resume=resume)


def shared_sample(space):
    """Seven architectures: three chunks of the scorer (3, 3, 1), two on rank 0 and one on
    rank 1, so the gather must interleave uneven shares."""
    return sample_distinct(space, 7, 11, what="the shared sample")


def shared_scores(cfg, search, splits):
    """The GHN's scores of :func:`shared_sample` and every baseline's, by
    ``score_shared`` and :func:`static_estimators`."""
    archs = shared_sample(search.space)
    baselines = static_estimators(cfg, search.space, splits, archs)
    return {"GHN": search.scorer.score_shared(archs)} | {e.name: e.scores for e in baselines}


def main(work: Path) -> None:
    init_from_torchrun_env("cpu")
    rank = get_rank()
    # A checkpoint period of 1 makes the one step save twice (model_0000000 and model_final).
    states = {"one_step": train(work / "ddp_ghn", 1, "SOLVER.CHECKPOINT_PERIOD", "1").state_dict()}
    states["full"] = train(work / "ddp_full", 2).state_dict()
    train(work / "ddp_split", 1)
    states["split"] = train(work / "ddp_split", 2, resume=True).state_dict()
    # The one-process GHN finished, so two ranks load it; one more step would need its streams.
    states["finished_single"] = train(work / "single_ghn", 1, resume=True).state_dict()
    try:
        train(work / "single_ghn", 2, resume=True)
        states["unfinished_refusal"] = None
    except GhnasError as e:
        states["unfinished_refusal"] = str(e)
    torch.save(states, work / f"rank{rank}.pt")

    checkpoint = work / "single_ghn" / "ghn" / "model_final.pth"
    cfg = tiny_cfg(work / "ddp_search", *SEARCH_OVERRIDES, "SEARCH.GHN_CHECKPOINT", str(checkpoint))
    splits = build_dataset(cfg)
    search = RandomSearch.from_config(cfg, splits)
    scored, evaluate = [], search.scorer.evaluate_chunk

    def recording(archs, networks=None):
        scored.extend(arch.canonical_hash for arch in archs)
        return evaluate(archs, networks)

    search.scorer.evaluate_chunk = recording
    ranked = search.run()
    report = {"scored": list(scored), "ranked": ranked}
    scored.clear()
    report |= {"shared": shared_scores(cfg, search, splits), "shared_scored": scored}
    (work / f"rank{rank}.json").write_text(json.dumps(report))
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
