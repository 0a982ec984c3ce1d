"""Drawing the candidate list of a random search: K architectures with distinct hashes."""

from typing import Any, List

import numpy as np

from ghnas.utils.errors import GhnasError


def sample_distinct(
    space,
    num: int,
    seed: int,
    max_tries_per_arch: int = 100,
    stream: int = 2,
    what: str = "SEARCH.NUM_ARCHS",
) -> List[Any]:
    """``num`` architectures of ``space`` with distinct canonical hashes, in draw order.

    The same (space, num, seed, stream) always gives the same list, so a resumed search knows
    which candidates remain without storing them. ``stream`` separates independent lists drawn
    with one seed (the search's candidates, the correlation benchmark's held-out set, ...);
    ``what`` names the config key in the error raised when the space is too small.
    """
    rng = np.random.default_rng([seed, stream])
    seen, archs = set(), []
    for _ in range(num * max_tries_per_arch):
        arch = space.sample(rng)
        if arch.canonical_hash not in seen:
            seen.add(arch.canonical_hash)
            archs.append(arch)
            if len(archs) == num:
                return archs
    raise GhnasError(
        f"{what}={num}: only {len(archs)} distinct architectures found in "
        f"{num * max_tries_per_arch} draws; the space is smaller than that"
    )
