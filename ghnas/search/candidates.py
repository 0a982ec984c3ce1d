"""Drawing the candidate list of a random search: K architectures with distinct hashes."""

from typing import Any, Callable, List, Optional

import numpy as np

from ghnas.utils.errors import GhnasError


def sample_distinct(
    space,
    num: int,
    seed: int,
    max_tries_per_arch: int = 100,
    stream: int = 2,
    what: str = "SEARCH.NUM_ARCHS",
    accept: Optional[Callable[[Any], bool]] = None,
    accept_what: str = "the constraint",
) -> List[Any]:
    """``num`` architectures of ``space`` with distinct canonical hashes, in draw order.

    The same (space, num, seed, stream) always gives the same list, so a resumed search knows
    which candidates remain without storing them. ``stream`` separates independent lists drawn
    with one seed (the search's candidates, the correlation benchmark's held-out set, ...);
    ``what`` names the config key in the error raised when the space is too small. ``accept``
    (e.g. a FLOP range) skips the draws it rejects; ``accept_what`` names it (config key and
    value) in the error raised when too few pass.
    """
    rng = np.random.default_rng([seed, stream])
    seen, archs, rejected = set(), [], 0
    draws = num * max_tries_per_arch
    for _ in range(draws):
        arch = space.sample(rng)
        if arch.canonical_hash in seen:
            continue
        seen.add(arch.canonical_hash)
        if accept is not None and not accept(arch):
            rejected += 1
            continue
        archs.append(arch)
        if len(archs) == num:
            return archs
    if rejected:
        raise GhnasError(
            f"{what}={num}: only {len(archs)} distinct architectures in {draws} draws pass "
            f"{accept_what} ({rejected} rejected); widen it or lower {what}"
        )
    raise GhnasError(
        f"{what}={num}: only {len(archs)} distinct architectures found in "
        f"{draws} draws; the space is smaller than that"
    )
