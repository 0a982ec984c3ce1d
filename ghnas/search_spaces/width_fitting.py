"""Fitting a network to a FLOP budget by its width (one function for final training and export)."""

from typing import Callable

from ghnas.utils.errors import GhnasError


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
