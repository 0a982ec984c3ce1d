"""Fitting a network to a FLOP budget by its width (one function for final training and export)."""

from typing import Any, Callable, Tuple

from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops


def largest_fitting_width(
    flops_at: Callable[[int], int], budget: float, *, minimum: int = 1, what: str = "network"
) -> int:
    """The largest integer width ``w >= minimum`` with ``flops_at(w) <= budget``.

    FLOPs grow with width, so the answer is found by doubling then bisecting (O(log w) calls of
    ``flops_at``, typically an analytic count). A network that does not fit even at ``minimum``
    is a :class:`GhnasError` giving its FLOPs and the budget.
    """
    lowest = flops_at(minimum)
    if lowest > budget:
        raise GhnasError(
            f"{what} needs {lowest / 1e6:.4g}M FLOPs at the minimum width {minimum}, over the "
            f"budget of {budget / 1e6:.4g}M"
        )
    fits, too_wide = minimum, 2 * minimum
    while flops_at(too_wide) <= budget:
        fits, too_wide = too_wide, 2 * too_wide
    while too_wide - fits > 1:
        middle = (fits + too_wide) // 2
        if flops_at(middle) <= budget:
            fits = middle
        else:
            too_wide = middle
    return fits


def fit_width_to_budget(
    space_at: Callable[[int], Any], arch: Any, budget: float, *, minimum: int, what: str
) -> Tuple[int, int]:
    """The widest F >= ``minimum`` at which ``arch`` fits ``budget`` FLOPs, and its FLOPs.

    ``space_at(width)`` is the search space at initial width ``width``. The width is searched
    with the space's analytic count (:func:`largest_fitting_width`), then the network built at
    that width is traced once with fvcore (the definition of FLOPs) to confirm it. A block over
    the budget even at ``minimum`` is a :class:`GhnasError` naming ``what``, its FLOPs and the
    budget; an analytic count that disagrees with the trace is a bug (RuntimeError).
    """
    if not budget > 0:
        raise GhnasError(f"{what}: the FLOP budget must be positive, got {budget}")
    width = largest_fitting_width(
        lambda w: space_at(w).analytic_flops(arch), budget, minimum=minimum, what=what
    )
    space = space_at(width)
    flops = space.analytic_flops(arch)
    traced = count_flops(space.build_network(arch), space.input_shape)
    if traced != flops:
        raise RuntimeError(
            f"internal error: {what} at width {width}: analytic count {flops} FLOPs but the "
            f"fvcore trace counts {traced}; {type(space).__name__}.analytic_flops is out of date"
        )
    return width, flops
