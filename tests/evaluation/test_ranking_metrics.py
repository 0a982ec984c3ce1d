"""Ranking metrics on small hand-computed cases."""

import math

import numpy as np
import pytest

from ghnas.evaluation import (
    bootstrap_interval,
    bootstrap_intervals,
    correlations,
    precision_at_k,
    ranking_statistics,
    top_half,
    top_half_correlations,
)
from ghnas.utils.errors import GhnasError


def test_perfect_and_reversed_rankings_keep_their_sign():
    assert correlations([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(
        {"pearson": 1.0, "spearman": 1.0, "kendall": 1.0}
    )
    # Pearson by hand: deviations x (1.5, .5, -.5, -1.5), y (-16.25, -6.25, 3.75, 18.75);
    # sum of products -57.5, sums of squares 5 and 668.75.
    assert correlations([4, 3, 2, 1], [10, 20, 30, 45]) == pytest.approx(
        {"pearson": -57.5 / math.sqrt(5 * 668.75), "spearman": -1.0, "kendall": -1.0}
    )


def test_kendall_tau_b_with_ties_by_hand():
    # Pairs of (x, y): (1,1) (2,2) (2,3) (3,3). Concordant: 12 13 14 24 = 4; discordant: 0;
    # tied in x only: (2,3); tied in y only: (3,4). tau_b = (4 - 0) / sqrt((4 + 1) * (4 + 1)).
    assert correlations([1, 2, 2, 3], [1, 2, 3, 3])["kendall"] == pytest.approx(4 / 5)


def test_constant_input_is_undefined_not_zero():
    assert all(math.isnan(v) for v in correlations([1, 1, 1], [1, 2, 3]).values())


def test_top_half_takes_ceiling_and_breaks_ties_by_key():
    truth = [0.5, 0.9, 0.5, 0.1, 0.5]
    # ceil(5/2) = 3: index 1 (0.9), then the three 0.5s ordered by key: "a" (4), "b" (2).
    assert top_half(truth, keys=["c", "z", "b", "y", "a"]).tolist() == [1, 2, 4]


def test_top_half_correlations_use_only_the_better_half():
    truth = [1, 2, 3, 4, 5, 6]
    predicted = [6, 5, 4, 1, 2, 3]  # wrong overall, right within the top half (4, 5, 6)
    assert correlations(predicted, truth)["kendall"] < 0
    assert top_half_correlations(predicted, truth, keys=range(6))["kendall"] == pytest.approx(1.0)


def test_precision_at_k():
    truth = [0.1, 0.9, 0.8, 0.7, 0.2]
    predicted = [0.9, 0.8, 0.1, 0.7, 0.2]  # predicted top 2: {0, 1}; true top 2: {1, 2}
    assert precision_at_k(predicted, truth, keys=range(5), k=2) == 0.5
    assert precision_at_k(predicted, truth, keys=range(5), k=5) == 1.0
    with pytest.raises(GhnasError, match="k=6"):
        precision_at_k(predicted, truth, keys=range(5), k=6)


def test_bootstrap_interval_contains_estimate_and_shrinks_with_n():
    def kendall(x, y, keys):
        return correlations(x, y)["kendall"]

    widths = []
    for n in (20, 200):
        rng = np.random.default_rng(n)
        truth = rng.normal(size=n)
        predicted = truth + rng.normal(size=n)
        low, high = bootstrap_interval(kendall, predicted, truth, range(n), resamples=300, seed=1)
        assert low <= kendall(predicted, truth, None) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_empty_set_is_a_clear_error():
    with pytest.raises(GhnasError, match="empty"):
        correlations([], [])


def test_ranking_statistics_and_their_intervals_by_name():
    truth = [0.1, 0.9, 0.8, 0.7, 0.2, 0.5]
    predicted = [0.2, 0.8, 0.9, 0.6, 0.1, 0.5]
    keys = list("abcdef")
    found = ranking_statistics(predicted, truth, keys, ks=[1, 3])
    # True top half: 0.9, 0.8, 0.7 (indices 1, 2, 3); predicted there 0.8, 0.9, 0.6.
    assert found["top_half_kendall"] == pytest.approx(1 / 3)
    assert found["precision_at_1"] == 0.0 and found["precision_at_3"] == 1.0
    assert found["spearman"] == pytest.approx(correlations(predicted, truth)["spearman"])
    intervals = bootstrap_intervals(
        lambda x, y, k: ranking_statistics(x, y, k, ks=[1]), predicted, truth, keys,
        resamples=200, seed=3,
    )  # fmt: skip
    assert set(intervals) == set(found) - {"precision_at_3"}
    for name, (low, high) in intervals.items():
        assert -1 <= low <= high <= 1, name
