"""The anytime AUC against hand-computed areas."""

import pytest

from ghnas.selection import area_under_anytime_curve
from ghnas.utils.errors import GhnasError


def test_two_exits_inside_the_budget():
    # accuracy 0 on [0, 10), 0.5 on [10, 30), 0.8 on [30, 100]: (0.5*20 + 0.8*70) / 100
    assert area_under_anytime_curve([10, 30], [0.5, 0.8], 100) == pytest.approx(0.66)


def test_an_exit_beyond_the_budget_counts_nothing():
    # the 0.9 exit at 150 lies past B = 100: (0.5*20 + 0.8*70) / 100 again
    assert area_under_anytime_curve([10, 30, 150], [0.5, 0.8, 0.9], 100) == pytest.approx(0.66)


def test_an_exit_at_zero_flops_counts_from_the_start():
    assert area_under_anytime_curve([0, 50], [0.2, 0.6], 100) == pytest.approx(0.4)


def test_an_exit_exactly_at_the_budget_counts_nothing():
    assert area_under_anytime_curve([25, 100], [0.4, 1.0], 100) == pytest.approx(0.3)


def test_bad_budget_and_unsorted_exits():
    with pytest.raises(GhnasError, match="FLOP_BUDGET"):
        area_under_anytime_curve([1], [1.0], 0)
    with pytest.raises(GhnasError, match="non-decreasing"):
        area_under_anytime_curve([5, 3], [0.1, 0.2], 10)
