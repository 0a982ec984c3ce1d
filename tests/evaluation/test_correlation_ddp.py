"""The correlation benchmark under two gloo ranks (``correlation_ddp_worker.py``) against one
process: the ranks split the ground-truth runs, gather them into one cache and report what one
process reports with the same GHN; the one-shot model trains data-parallel."""

import json
from pathlib import Path

import pytest
import torch
from distributed_launch import WORLD_SIZE, launch
from tiny_correlation import NUM_ARCHS

from ghnas.utils.file_io import read_jsonl

WORKER = Path(__file__).with_name("correlation_ddp_worker.py")


@pytest.fixture(scope="module")
def work(tmp_path_factory, correlation_run):
    """The two ranks with the one-process run's GHN (``correlation_run``, tests/conftest.py)."""
    work = tmp_path_factory.mktemp("correlation_ddp")
    folder, summary = correlation_run
    (work / "single").symlink_to(folder)
    (work / "single.json").write_text(json.dumps(summary))
    launch(WORKER, work, folder / "ghn" / "model_final.pth", timeout=240)
    return work


def ranks(work):
    return [json.loads((work / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]


def test_the_ranks_split_the_runs_and_gather_them_into_one_cache(work):
    trained = [set(rank["trained"]) for rank in ranks(work)]
    assert all(trained) and not trained[0] & trained[1]
    rows = read_jsonl(str(work / "ddp" / "correlation" / "results.jsonl"))
    top = ranks(work)[0]["summary"]["random_vs_top"]["groups"]["GHN top 2"]["hashes"]
    assert trained[0] | trained[1] == {r["hash"] for r in rows} | set(top)
    # Rank 1 wrote its own runs into its own folder; rank 0's cache must hold them all.
    cached = sorted(p.name for p in (work / "ddp_cache_rank0").iterdir())
    assert len(cached) == len(trained[0] | trained[1]) and all(n.endswith(".json") for n in cached)
    assert len(list((work / "ddp_cache_rank1").glob("*.json"))) == len(trained[1])


def test_two_ranks_report_what_one_process_reports(work):
    single = {
        r["hash"]: r for r in read_jsonl(str(work / "single" / "correlation" / "results.jsonl"))
    }
    rows = read_jsonl(str(work / "ddp" / "correlation" / "results.jsonl"))
    assert len(rows) == NUM_ARCHS and [r["hash"] for r in rows] == list(single)
    for row in rows:  # a run's result does not depend on the rank that trains it
        theirs = single[row["hash"]]
        assert row["ground_truth"] == theirs["ground_truth"]
        assert set(row["scores"]) == {"GHN", "one-shot", "parameters", "FLOPs", "SGD 2 steps",
                                      "SGD 10 steps"}  # fmt: skip
        for name, score in row["scores"].items():
            if name != "one-shot":  # the ranks trained their own, data-parallel
                assert score == pytest.approx(theirs["scores"][name], abs=1e-9), name
    expected = json.loads((work / "single.json").read_text())
    for rank in ranks(work):
        got = rank["summary"]
        assert got["estimators"]["GHN"]["kendall"] == pytest.approx(
            expected["estimators"]["GHN"]["kendall"]
        )
        assert got["random_vs_top"]["groups"] == expected["random_vs_top"]["groups"]


def test_the_one_shot_model_is_the_same_on_both_ranks(work):
    one_shot = [rank["summary"]["estimators"]["one-shot"] for rank in ranks(work)]
    for key in ("kendall", "spearman", "pearson", "top_half_kendall"):
        assert one_shot[0][key] == one_shot[1][key], key
    checkpoint = torch.load(work / "ddp" / "one_shot" / "model_final.pth", weights_only=False)
    assert checkpoint["rng"]["world_size"] == WORLD_SIZE  # each rank drew its own paths
