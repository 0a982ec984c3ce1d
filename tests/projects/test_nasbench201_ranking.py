"""The ranking benchmark's pieces: arguments, the de-duplicated view, the summary over seeds,
the zero-cost baselines on the benchmark's network, and a --seeds run end to end."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from ghnas.evaluation.baseline_scorer import BaselineScorer, architecture_seed
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "NASBench201"
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(REPO / "tests"))
from conftest import require_shared_file  # noqa: E402
from nasbench201.ranking import (  # noqa: E402
    TOTAL,
    parse_num_archs,
    parse_seeds,
    summarise_seeds,
    unique_classes,
)
from test_nasbench201 import CUT_OFF, DENSE, space_for  # noqa: E402

# The project is a plug-in: skipped (failed in CI) where it is not installed.
pytestmark = pytest.mark.usefixtures("nasbench201_plugin")


def test_num_archs_and_seeds_arguments():
    assert parse_num_archs("all") == parse_num_archs("0") == TOTAL
    assert parse_num_archs("500") == 500 and parse_num_archs("99999") == TOTAL
    for bad in ("-3", "many"):
        with pytest.raises(GhnasError, match="--num-archs"):
            parse_num_archs(bad)
    assert parse_seeds("2, 0,1") == [2, 0, 1]
    for bad in ("0,0", "a,b", ""):
        with pytest.raises(GhnasError, match="--seeds"):
            parse_seeds(bad)


def test_one_architecture_per_isomorphism_class_the_lowest_index():
    indices = [40, 3, 17, 8, 25]
    classes = {40: "a", 3: "b", 17: "a", 8: "c", 25: "b"}
    # Class a: 17 (position 2) before 40; b: 3 (position 1); c: 8 (position 3).
    assert unique_classes(indices, classes) == [1, 2, 3]


def test_summary_over_seeds_by_hand():
    def report(tau, rho, half, precision):
        row = {"estimator": "GHN", "kendall (all)": tau, "spearman (all)": rho,
               "kendall (top half)": half, "precision@5%": precision}  # fmt: skip
        return {"estimators": [row]}

    rows = summarise_seeds([0, 1, 2], [report(0.7, 0.9, 0.4, 0.5), report(0.8, 0.9, 0.2, 0.5),
                                       report(0.6, 0.9, 0.3, 0.2)])  # fmt: skip
    # τ: mean 0.7, sd sqrt((0.01 + 0.01 + 0) / 2) = 0.1; precision: mean 0.4, sd sqrt(0.03) ≈ 0.173.
    assert rows == [{"estimator": "GHN", "τ seed 0": 0.7, "τ seed 1": 0.8, "τ seed 2": 0.6,
                     "kendall (all)": "0.700 ± 0.100", "spearman (all)": "0.900 ± 0.000",
                     "kendall (top half)": "0.300 ± 0.100",
                     "precision@5%": "0.400 ± 0.173"}]  # fmt: skip


def scorer(names, seed=0):
    torch.manual_seed(5)
    images, labels = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    return BaselineScorer(
        space=space_for(channels=4, cells=1), names=names, images=images, labels=labels, seed=seed
    )


def test_baselines_on_the_benchmark_network_and_its_undefined_cells():
    names = ["naswot", "synflow", "snip", "grad_norm", "jacob_cov"]
    dense, _ = scorer(names).score(DENSE)
    assert all(math.isfinite(v) for v in dense.values()), dense
    cut, _ = scorer(names).score(CUT_OFF)  # nothing reaches the output from the input
    assert cut["synflow"] == -math.inf and math.isnan(cut["jacob_cov"])
    assert cut["snip"] == cut["grad_norm"] == 0.0
    assert cut["FLOPs"] < dense["FLOPs"] and cut["parameters"] < dense["parameters"]


def test_baselines_are_seeded_per_architecture():
    one = scorer(["naswot", "snip"])
    first, _ = one.score(DENSE)
    torch.randn(1000)  # the global generator moves on, as other work would move it
    one.score(CUT_OFF)
    assert one.score(DENSE)[0] == first  # later in the run, or in another run: the same
    other, _ = scorer(["naswot", "snip"], seed=1).score(DENSE)
    assert other["snip"] != first["snip"]
    assert architecture_seed(0, DENSE.canonical_hash) != architecture_seed(
        0, CUT_OFF.canonical_hash
    )


def test_seeds_run_end_to_end(tmp_path):
    """Two seeds, each its own GHN, sample and folder; the summary reads their reports."""
    table = require_shared_file("nasbench201/nasbench201.csv")
    data = require_shared_file("cifar10/cifar10-1k.npz")
    import benchmark_ranking

    summary = benchmark_ranking.main(benchmark_ranking.parser().parse_args(
        ["--config-file", str(PROJECT / "configs" / "quick.yaml"), "--num-archs", "6",
         "--seeds", "0,1", "--table", str(table), "--baseline-network", "4,1",
         "--bootstrap", "20", "--baseline-archs", "2", "OUTPUT_DIR", str(tmp_path),
         "DATASETS.PATH", str(data), "SOLVER.MAX_ITER", "2", "NASBENCH201.CHANNELS", "4",
         "ZERO_COST.ESTIMATORS", "['naswot']", "ZERO_COST.BATCH_SIZE", "8"]
    ))  # fmt: skip
    samples = []
    for seed in (0, 1):
        folder = tmp_path / f"seed_{seed}" / "benchmark"
        header = json.loads((folder / "results_meta.json").read_text())
        rows = list(map(json.loads, (folder / "results.jsonl").read_text().splitlines()))
        assert header["seed"] == seed and len(rows) == 6
        samples.append({r["arch_index"] for r in rows})
    assert samples[0] != samples[1]
    assert json.loads((tmp_path / "seeds.json").read_text())["seeds"] == [0, 1]
    ghn = summary["summary"][0]
    for seed in (0, 1):
        assert (
            ghn[f"τ seed {seed}"]
            == summary["per_seed"][str(seed)]["estimators"][0]["kendall (all)"]
        )
    assert [r["estimator"] for r in summary["summary"]][-2:] == [
        "naswot (C=4, N=1)", "12-epoch training (table)"
    ]  # fmt: skip


def test_last_checkpoints_are_distinct_iterations(tmp_path):
    """The final save and a periodic save of the same step count once, as the final one."""
    from nasbench201.checkpoint_ranking import checkpoint_label, last_checkpoints

    (tmp_path / "ghn").mkdir()
    for name, iteration in [("model_0000499", 499), ("model_0000999", 999),
                            ("model_0001499", 1499), ("model_final", 1499),
                            ("model_0000249", 249)]:  # fmt: skip
        torch.save({"iteration": iteration}, tmp_path / "ghn" / f"{name}.pth")
    paths = last_checkpoints(str(tmp_path))
    assert [Path(p).name for p in paths] == ["model_0000499.pth", "model_0000999.pth",
                                            "model_final.pth"]  # fmt: skip
    assert [checkpoint_label(p, i) for p, i in zip(paths, (499, 999, 1499))] == [
        "step 500", "step 1000", "final"
    ]  # fmt: skip


def test_earlier_checkpoints_score_the_same_architectures(tmp_path):
    """With EMA on: the two checkpoints before the final one and the final raw parameters score
    the sample; a checkpoint's scores equal those of its file's moving average loaded by hand,
    and a resumed run reuses them."""
    table = require_shared_file("nasbench201/nasbench201.csv")
    data = require_shared_file("cifar10/cifar10-1k.npz")
    import benchmark_ranking

    argv = ["--config-file", str(PROJECT / "configs" / "quick.yaml"), "--num-archs", "6",
            "--table", str(table), "--baseline-network", "4,1", "--bootstrap", "20",
            "--baseline-archs", "2", "--no-one-shot", "OUTPUT_DIR", str(tmp_path),
            "DATASETS.PATH", str(data), "SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "1",
            "NASBENCH201.CHANNELS", "4", "ZERO_COST.ESTIMATORS", "[]",
            "GHN.EMA_DECAY", "0.5"]  # fmt: skip
    report = benchmark_ranking.main(benchmark_ranking.parser().parse_args(argv))
    rows = {r["checkpoint"]: r for r in report["checkpoints"]["rows"]}
    assert list(rows) == ["step 2", "step 3", "final (raw, no EMA)", "final"]
    assert rows["final"]["kendall (all)"] == report["estimators"][0]["kendall (all)"]
    cache = json.loads((tmp_path / "benchmark" / "checkpoints.json").read_text())
    assert cache["final (raw, no EMA)"]["scores"] != cache["step 3"]["scores"]

    from nasbench201 import NB201Architecture, add_nasbench201_config

    from ghnas.config import get_cfg
    from ghnas.data import build_dataset, evaluation_batches
    from ghnas.ghn import build_ghn
    from ghnas.search import ArchitectureScorer
    from ghnas.search_spaces import build_search_space
    from ghnas.selection import build_criterion

    cfg = get_cfg()
    add_nasbench201_config(cfg)
    cfg.merge_from_file(str(tmp_path / "config.yaml"))
    splits = build_dataset(cfg)
    space = build_search_space(cfg, splits.meta)
    ghn = build_ghn(cfg, space)
    saved = torch.load(tmp_path / "ghn" / "model_0000001.pth", weights_only=False)
    ghn.load_state_dict({k[len("module."):]: v for k, v in saved["ema"].items()
                         if k.startswith("module.")})  # fmt: skip
    strings = benchmark_ranking.read_columns(str(table), ["arch_str"])
    archs = [NB201Architecture.from_string(strings[i][0]) for i in cache["step 2"]["indices"]]
    batches = evaluation_batches(dataset=splits.test, meta=splits.meta,
                                 num_images=len(splits.test), batch_size=cfg.SEARCH.EVAL_BATCH_SIZE,
                                 seed=cfg.SEED, device="cpu")  # fmt: skip
    scorer = ArchitectureScorer(ghn=ghn, space=space, criterion=build_criterion(cfg),
                                batches=batches, arch_batch=cfg.SEARCH.ARCH_BATCH)  # fmt: skip
    assert scorer.score(archs) == pytest.approx(cache["step 2"]["scores"], abs=1e-6)

    before = (tmp_path / "benchmark" / "checkpoints.json").stat().st_mtime_ns
    again = benchmark_ranking.main(benchmark_ranking.parser().parse_args(["--resume", *argv]))
    assert (tmp_path / "benchmark" / "checkpoints.json").stat().st_mtime_ns == before
    assert again["checkpoints"] == report["checkpoints"]
