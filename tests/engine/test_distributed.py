"""Two processes through torch.distributed (gloo on CPU, one thread each), as torchrun runs them:
the GHN trainer and the search, each rank running ``ddp_worker.py`` (see distributed_launch)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_worker import SEARCH_OVERRIDES, shared_sample, shared_scores, tiny_cfg
from distributed_launch import REPO, TIMEOUT, WORLD_SIZE, kill_leftovers, launch, start_ranks

from ghnas.data import build_dataset
from ghnas.search import RandomSearch
from ghnas.search_spaces import build_search_space
from ghnas.trainers import GHNTrainer

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One process first (a GHN trained one step, and the ranking it gives), then two ranks."""
    work = tmp_path_factory.mktemp("ddp")
    cfg = tiny_cfg(work / "single_ghn", "SOLVER.MAX_ITER", "1")
    splits = build_dataset(cfg)
    state = GHNTrainer.from_config(cfg, splits).train().state_dict()
    torch.save(state, work / "single.pt")
    cfg = tiny_cfg(work / "single_search", *SEARCH_OVERRIDES, "SEARCH.GHN_CHECKPOINT",
                   str(work / "single_ghn" / "ghn" / "model_final.pth"))  # fmt: skip
    search = RandomSearch.from_config(cfg, splits)
    ranked = search.run()
    (work / "single.json").write_text(json.dumps(ranked))
    (work / "single_shared.json").write_text(json.dumps(shared_scores(cfg, search, splits)))
    launch(WORKER, work)
    return work


def test_ranking_is_sharded_and_gathered_like_one_process(work):
    single = json.loads((work / "single.json").read_text())
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    scored = [set(rank["scored"]) for rank in ranks]
    assert len(scored[0]) == len(scored[1]) == len(single) // 2 == 6
    assert not scored[0] & scored[1] and scored[0] | scored[1] == {r["hash"] for r in single}
    for rank in ranks:  # every rank ends with the same ranking, the one-process one
        assert [r["hash"] for r in rank["ranked"]] == [r["hash"] for r in single]
        for mine, theirs in zip(rank["ranked"], single):
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-6)
    lines = (work / "ddp_search" / "search" / "results.jsonl").read_text().splitlines()
    written = [json.loads(line)["hash"] for line in lines]
    candidates = (work / "single_search" / "search" / "results.jsonl").read_text().splitlines()
    assert written == [json.loads(line)["hash"] for line in candidates]  # candidate order
    assert (work / "ddp_search" / "search" / "top.md").exists()


def test_shared_scores_are_dealt_out_and_equal_one_process(work):
    """``ArchitectureScorer.score_shared`` and the training-free baselines of the correlation
    benchmark: each rank computes its share, and every rank ends with one process's values."""
    single = json.loads((work / "single_shared.json").read_text())
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    cfg = tiny_cfg(work / "unused")
    space = build_search_space(cfg, build_dataset(cfg).meta)
    hashes = [a.canonical_hash for a in shared_sample(space)]
    assert [rank["shared_scored"] for rank in ranks] == [hashes[:3] + hashes[6:], hashes[3:6]]
    assert len(single) > 3  # the GHN, parameters, FLOPs and the zero-cost estimators
    for rank in ranks:
        assert rank["shared"].keys() == single.keys()
        for name, scores in single.items():
            assert rank["shared"][name] == pytest.approx(scores, rel=1e-5, abs=1e-6), name


def test_ghn_step_averages_gradients_over_ranks(work):
    ranks = [torch.load(work / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    single = torch.load(work / "single.pt")  # one step on rank 0's data alone
    for name, tensor in ranks[0]["one_step"].items():
        assert torch.equal(tensor, ranks[1]["one_step"][name]), name
    assert any(not torch.equal(t, single[n]) for n, t in ranks[0]["one_step"].items())
    checkpoint = torch.load(work / "ddp_ghn" / "ghn" / "model_final.pth", weights_only=False)
    streams = checkpoint["rng"]
    assert streams["world_size"] == WORLD_SIZE and len(streams["ranks"]) == WORLD_SIZE
    assert streams["ranks"][0]["architectures"] != streams["ranks"][1]["architectures"]
    assert checkpoint["excluded_draws_per_rank"] == [0, 0]


def test_resumed_ranks_continue_their_own_streams(work):
    for rank in range(WORLD_SIZE):
        state = torch.load(work / f"rank{rank}.pt")
        for name, tensor in state["full"].items():
            assert torch.equal(tensor, state["split"][name]), name
    # Averaging is symmetric, so equal weights alone would not notice two ranks swapping their
    # streams on resume: each rank's saved generators must also be those of the unbroken run.
    full, split = (
        torch.load(work / run / "ghn" / "model_final.pth", weights_only=False)["rng"]["ranks"]
        for run in ("ddp_full", "ddp_split")
    )
    for rank in range(WORLD_SIZE):
        assert full[rank]["architectures"] == split[rank]["architectures"], rank
        assert torch.equal(full[rank]["torch"], split[rank]["torch"]), rank


def test_a_finished_one_process_ghn_resumes_under_two_ranks(work):
    single = torch.load(work / "single.pt")
    for rank in range(WORLD_SIZE):
        state = torch.load(work / f"rank{rank}.pt")
        for name, tensor in single.items():
            assert torch.equal(tensor, state["finished_single"][name]), name
        # Continuing it would need one stream per rank; the checkpoint holds one.
        assert "written by 1 process(es) but 2 run now" in state["unfinished_refusal"]


def test_a_folder_refused_on_rank_0_ends_every_rank_with_one_line(tmp_path):
    """Rank 0 alone claims OUTPUT_DIR; its refusal (the folder holds a run) must reach the
    other ranks instead of leaving them waiting at a barrier."""
    out = tmp_path / "used"
    out.mkdir()
    (out / "config.yaml").write_text("SEED: 0\n")  # a run was here
    command = [sys.executable, str(REPO / "tools" / "train_net.py"), "--config-file",
               str(REPO / "configs" / "quick" / "classification.yaml"),
               "OUTPUT_DIR", str(out)]  # fmt: skip
    piped = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    processes = start_ranks(command, per_rank=lambda rank: piped)
    try:
        for rank, process in enumerate(processes):
            err = process.communicate(timeout=TIMEOUT)[1]
            assert process.returncode == 2, f"rank {rank}: {err[-2000:]}"
            assert err.strip().splitlines()[-1].startswith("ghnas: error: OUTPUT_DIR"), err
            assert "already holds a run" in err
    except subprocess.TimeoutExpired:
        pytest.fail(f"a rank did not end within {TIMEOUT} s: it waits for rank 0 (a hang)")
    finally:
        kill_leftovers(processes)
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml"]  # nothing written
