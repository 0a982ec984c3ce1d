"""NAS-Bench-201 scoring under two gloo ranks (``nasbench201_ddp_worker.py``): the ranks split
the sample chunk by chunk, and the rows rank 0 writes are what one process computes with the
same GHN, in the same order."""

import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "projects" / "NASBench201")]
from conftest import require_shared_file  # noqa: E402
from distributed_launch import WORLD_SIZE, launch  # noqa: E402
from nasbench201_ddp_worker import NUM_ARCHS  # noqa: E402

WORKER = Path(__file__).with_name("nasbench201_ddp_worker.py")
pytestmark = pytest.mark.usefixtures("nasbench201_plugin")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    table = require_shared_file("nasbench201/nasbench201.csv")
    data = require_shared_file("cifar10/cifar10-1k.npz")
    work = tmp_path_factory.mktemp("nasbench201_ddp")
    launch(WORKER, work, table, data, timeout=240)
    return work


def one_process_rows(work):
    """The written rows' architectures scored again here, in one process, with the run's GHN
    and the baselines' scorer."""
    from nasbench201 import NB201Architecture, add_nasbench201_config

    from ghnas.config import get_cfg
    from ghnas.data import build_dataset, evaluation_batches
    from ghnas.evaluation.baseline_scorer import BaselineScorer
    from ghnas.ghn import build_ghn
    from ghnas.ghn.checkpoint import load_ghn_weights
    from ghnas.search import ArchitectureScorer
    from ghnas.search_spaces import build_search_space
    from ghnas.selection import build_criterion

    cfg = get_cfg()
    add_nasbench201_config(cfg)
    cfg.merge_from_file(str(work / "ddp" / "config.yaml"))
    splits = build_dataset(cfg)
    space = build_search_space(cfg, splits.meta)
    ghn = build_ghn(cfg, space)
    load_ghn_weights(ghn, str(work / "ddp" / "ghn" / "model_final.pth"), cfg, space)
    batches = evaluation_batches(dataset=splits.test, meta=splits.meta,
                                 num_images=len(splits.test), batch_size=cfg.SEARCH.EVAL_BATCH_SIZE,
                                 seed=cfg.SEED, device="cpu")  # fmt: skip
    scorer = ArchitectureScorer(ghn=ghn, space=space, criterion=build_criterion(cfg),
                                batches=batches, arch_batch=cfg.SEARCH.ARCH_BATCH)  # fmt: skip
    baseline_cfg = cfg.clone()
    baseline_cfg.defrost()
    baseline_cfg.NASBENCH201.CHANNELS, baseline_cfg.NASBENCH201.CELLS_PER_STAGE = 4, 1
    baselines = BaselineScorer.from_config(
        baseline_cfg, build_search_space(baseline_cfg, splits.meta), splits.test, splits.meta
    )
    rows = [json.loads(line) for line in
            (work / "ddp" / "benchmark" / "results.jsonl").read_text().splitlines()]  # fmt: skip
    archs = [NB201Architecture.from_dict(r["arch"]) for r in rows]
    return rows, scorer.score(archs), [baselines.score(a)[0] for a in archs]


def test_the_ranks_split_the_sample_chunk_by_chunk(work):
    """Chunks of 2: rank 0 scores chunks 0, 2, 4 of the sample and rank 1 chunks 1, 3."""
    scored = [json.loads((work / f"rank{r}.json").read_text())["scored"] for r in range(WORLD_SIZE)]
    lines = (work / "ddp" / "benchmark" / "results.jsonl").read_text().splitlines()
    hashes = [json.loads(line)["hash"] for line in lines]
    chunks = [hashes[i : i + 2] for i in range(0, NUM_ARCHS, 2)]
    assert scored == [sum(chunks[0::2], []), sum(chunks[1::2], [])]


def test_the_rows_are_one_process_scores_in_sample_order(work):
    rows, scores, baselines = one_process_rows(work)
    indices = [r["arch_index"] for r in rows]
    assert len(rows) == NUM_ARCHS and indices == sorted(indices)  # the sample's order
    assert [r["score"] for r in rows] == pytest.approx(scores, abs=1e-6)
    assert [r["baselines"] for r in rows] == baselines
    checkpoint = torch.load(work / "ddp" / "ghn" / "model_final.pth", weights_only=False)
    assert checkpoint["rng"]["world_size"] == WORLD_SIZE  # the GHN trained over both ranks
    reports = [json.loads((work / f"rank{r}.json").read_text())["report"] for r in range(2)]
    assert reports[0]["estimators"] == reports[1]["estimators"]  # every rank the same report
