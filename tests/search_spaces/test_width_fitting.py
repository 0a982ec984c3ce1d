"""Budget fitting returns the largest fitting width, or a one-line error."""

import pytest

from ghnas.search_spaces.width_fitting import largest_fitting_width
from ghnas.utils.errors import GhnasError


@pytest.mark.parametrize("budget", [100, 101, 399, 400, 401, 10_000, 123_456])
def test_largest_fitting_width_matches_a_linear_scan(budget):
    def flops_at(width):
        return 4 * width * width + 3 * width  # grows with width, like a conv network

    expected = max(w for w in range(1, 1000) if flops_at(w) <= budget)
    assert largest_fitting_width(flops_at, budget) == expected


def test_a_network_too_big_at_the_minimum_width_is_refused():
    message = "needs 0.0008M FLOPs at the minimum width 8, over the budget of 0.0005M"
    with pytest.raises(GhnasError, match=message):
        largest_fitting_width(lambda w: w * 100, 500, minimum=8)
