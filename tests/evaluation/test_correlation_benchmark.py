"""The correlation harness end to end at tiny size: reports, shared cache, sweep, bad input."""

import json

import numpy as np
import pytest
import torch
from scipy import stats
from tiny_correlation import NUM_ARCHS, run

from ghnas.ghn.checkpoint import GHN_SCHEMA_VERSION
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import read_jsonl


def test_single_run_writes_table_results_and_figures(correlation_run):
    folder, summary = correlation_run
    out = folder / "correlation"
    for name in ("table.md", "summary.json", "ghn_vs_truth.png", "random_vs_top.png"):
        assert (out / name).stat().st_size > 0, name
    rows = read_jsonl(str(out / "results.jsonl"))
    assert len(rows) == NUM_ARCHS and summary["held_out_draws_in_ghn_training"] == 0
    names = {"GHN", "one-shot", "parameters", "FLOPs", "SGD 2 steps", "SGD 10 steps",
             "naswot", "synflow", "snip", "grad_norm", "jacob_cov"}  # fmt: skip
    assert set(summary["estimators"]) == names and set(rows[0]["scores"]) == names
    # Every statistic against scipy on the written rows (an independent recomputation).
    truth = [r["ground_truth"] for r in rows]
    for name in names:
        scores = [r["scores"][name] for r in rows]
        got = summary["estimators"][name]
        if np.ptp(scores) == 0:
            continue
        assert got["kendall"] == pytest.approx(stats.kendalltau(scores, truth).statistic)
        assert got["pearson"] == pytest.approx(stats.pearsonr(scores, truth).statistic)
        low, high = got["intervals"]["kendall"]
        assert low <= high
    params = [r["scores"]["parameters"] for r in rows]
    assert all(p > 0 and float(p).is_integer() for p in params)
    table = (out / "table.md").read_text()
    assert "| GHN" in table and "one-shot" in table and "Random vs GHN top" in table
    assert len(summary["random_vs_top"]["groups"]["GHN top 2"]["values"]) == 2


def test_two_point_ablation_sweep_shares_the_ground_truth(tmp_path, correlation_cache):
    results = run(tmp_path, correlation_cache, "CORRELATION.ONE_SHOT", False,
                  "CORRELATION.TOP_COMPARE", 0, "ABLATION.KEY", "GHN.NUM_PASSES",
                  "ABLATION.VALUES", [1, 2])  # fmt: skip
    assert [r["values"] for r in results] == [[1], [2]]
    ablation = tmp_path / "ablation"
    summary = (ablation / "summary.md").read_text()
    assert summary.count("\n| ") == 3  # header, and one row per value (the separator has |-)
    assert (ablation / "correlation.png").stat().st_size > 0
    for value in (1, 2):
        member = ablation / f"GHN.NUM_PASSES={value}"
        assert (member / "ghn" / "model_final.pth").exists()
        rows = read_jsonl(str(member / "correlation" / "results.jsonl"))
        assert len(rows) == NUM_ARCHS
        assert "naswot" not in rows[0]["scores"]  # the main study's, not recomputed per member
    # Both members (and the single run) trained the same 5 architectures, once.
    assert len(list(correlation_cache.glob("*.json"))) >= NUM_ARCHS
    first, second = (json.loads((ablation / f"GHN.NUM_PASSES={v}" / "correlation" /
                                 "summary.json").read_text()) for v in (1, 2))  # fmt: skip
    assert first["ground_truth"] == second["ground_truth"]
    assert first["estimators"]["GHN"]["kendall"] != second["estimators"]["GHN"]["kendall"]


def test_checkpoint_from_another_space_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"schema_version": GHN_SCHEMA_VERSION, "space": "anytime", "model": {}}, path)
    with pytest.raises(GhnasError) as info:
        run(tmp_path, tmp_path / "cache", "CORRELATION.GHN_CHECKPOINT", str(path))
    message = str(info.value)
    assert "'anytime'" in message and "'classification'" in message and "\n" not in message


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["CORRELATION.NUM_ARCHS", 0], "the architecture set is empty"),
        (["DATASETS.TEST_SIZE", 0], "has none; carve one with DATASETS.TEST_SIZE"),
        (["ABLATION.KEY", "DATASETS.NAME", "ABLATION.VALUES", ["npz"]], "cannot vary"),
        (["ABLATION.KEY", "GHN.NO_SUCH_KEY", "ABLATION.VALUES", [1]], "NO_SUCH_KEY"),
    ],
)
def test_bad_input_is_one_line(tmp_path, overrides, expected):
    with pytest.raises(GhnasError, match=expected) as info:
        run(tmp_path, tmp_path / "cache", *overrides)
    assert "\n" not in str(info.value)


def test_table_4_is_written_before_the_top_comparison_trains(tmp_path, correlation_cache,
                                                             monkeypatch):  # fmt: skip
    from ghnas.evaluation.correlation import CorrelationBenchmark

    def killed(self, ghn):  # the long top-n training, interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(CorrelationBenchmark, "compare_top", killed)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, correlation_cache, "CORRELATION.TOP_COMPARE", 2,
            "CORRELATION.TOP_CANDIDATES", 6)  # fmt: skip
    out = tmp_path / "correlation"
    table = (out / "table.md").read_text()
    assert "| GHN" in table and "Random vs GHN top" not in table
    summary = json.loads((out / "summary.json").read_text())
    assert "GHN" in summary["estimators"] and "random_vs_top" not in summary
