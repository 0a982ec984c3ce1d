"""Constraints on candidate architectures, checked when they are drawn, before any is scored.

A constraint is a predicate ``constraint(arch) -> bool`` handed to
:func:`ghnas.search.candidates.sample_distinct` as ``accept``; its ``str`` names the config key
and value, for the error raised when too few architectures pass.
"""

import math
from typing import Any, Optional, Sequence

from ghnas.utils.errors import GhnasError

FLOPS_KEY = "SEARCH.CONSTRAINTS.FLOPS"


class FlopRange:
    """Accepts architectures whose FLOPs in ``space`` lie in ``[low, high]``.

    FLOPs are the space's analytic count at its configured width (``space.analytic_flops``,
    equal to fvcore's trace), so thousands of draws are filtered without building a network.
    """

    def __init__(self, *, space, low: float, high: float) -> None:
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
            raise GhnasError(
                f"{FLOPS_KEY} must be [lo, hi] with 0 <= lo <= hi, got [{low:g}, {high:g}]"
            )
        self.space, self.low, self.high = space, float(low), float(high)

    @classmethod
    def from_config(cls, cfg, space) -> Optional["FlopRange"]:
        """The range of ``SEARCH.CONSTRAINTS.FLOPS`` for ``space``; None when the list is empty."""
        bounds = cfg.SEARCH.CONSTRAINTS.FLOPS
        if len(bounds) == 0:
            return None
        if len(bounds) != 2 or not all(_is_number(b) for b in bounds):
            raise GhnasError(f"{FLOPS_KEY} must be two numbers [lo, hi] or [], got {list(bounds)}")
        return cls(space=space, low=bounds[0], high=bounds[1])

    def __call__(self, arch: Any) -> bool:
        return self.low <= self.space.analytic_flops(arch) <= self.high

    def bounds(self) -> Sequence[float]:
        """[low, high], for results headers."""
        return [self.low, self.high]

    def __str__(self) -> str:
        return f"{FLOPS_KEY}=[{self.low:.4g}, {self.high:.4g}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
