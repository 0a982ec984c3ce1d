"""The training-free baselines of an architecture: parameter count, FLOPs and zero-cost scores.

    scorer = BaselineScorer.from_config(cfg, space, dataset, meta)
    values, seconds = scorer.score(arch)

Each architecture's network is built with its own seeded initialisation (from ``SEED`` and the
architecture's canonical hash), so a score does not depend on which run, chunk or rank computed
it, and a resumed run computes the same numbers. The zero-cost estimators read one fixed,
seeded mini-batch of ``ZERO_COST.BATCH_SIZE`` images of the given split.
"""

import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from ghnas.data import evaluation_batches
from ghnas.evaluation.zero_cost import zero_cost_estimator, zero_cost_scores
from ghnas.search.random_search import count_parameters
from ghnas.utils.errors import GhnasError

STATIC_ESTIMATORS = ("parameters", "FLOPs")
PROXY_BATCH_STREAM = 7  # the mini-batch's draw, independent of every other seeded draw


def check_zero_cost_config(cfg, num_images: int) -> None:
    """ZERO_COST.* names registered estimators and a batch the split can fill (one line if not)."""
    for name in cfg.ZERO_COST.ESTIMATORS:
        zero_cost_estimator(name)
    if cfg.ZERO_COST.ESTIMATORS and not 2 <= cfg.ZERO_COST.BATCH_SIZE <= num_images:
        raise GhnasError(
            f"ZERO_COST.BATCH_SIZE={cfg.ZERO_COST.BATCH_SIZE} must be between 2 and the "
            f"{num_images} images of the split the estimators read"
        )


def derived_seed(*entropy: int) -> int:
    """A seed drawn from ``entropy`` (independent streams for distinct entropy)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def architecture_seed(seed: int, canonical_hash: str) -> int:
    """The torch seed of an architecture's network: one per (SEED, architecture)."""
    return derived_seed(seed, int(canonical_hash[:15], 16))


class BaselineScorer:
    """Scores architectures of ``space`` with the static and zero-cost estimators."""

    def __init__(self, *, space, names: Sequence[str], images, labels, seed: int) -> None:
        self.space, self.names, self.seed = space, list(names), seed
        self.images, self.labels = images, labels

    @classmethod
    def from_config(cls, cfg, space, dataset, meta) -> "BaselineScorer":
        """ZERO_COST.* settings, the mini-batch drawn from ``dataset`` on MODEL.DEVICE."""
        check_zero_cost_config(cfg, len(dataset))
        size = cfg.ZERO_COST.BATCH_SIZE
        [(images, labels)] = evaluation_batches(
            dataset=dataset, meta=meta, num_images=size, batch_size=size,
            seed=derived_seed(cfg.SEED, PROXY_BATCH_STREAM),
            device=cfg.MODEL.DEVICE,
        )  # fmt: skip
        return cls(
            space=space, names=cfg.ZERO_COST.ESTIMATORS, images=images, labels=labels,
            seed=cfg.SEED,
        )  # fmt: skip

    @property
    def estimator_names(self) -> List[str]:
        """What :meth:`score` returns, in order."""
        return [*STATIC_ESTIMATORS, *self.names]

    def score(self, arch) -> Tuple[Dict[str, float], Dict[str, float]]:
        """Every estimator's value for ``arch`` and its seconds (a zero-cost estimator's include
        building the network, which each needs)."""
        values, seconds = {}, {}
        static = {"parameters": count_parameters, "FLOPs": lambda space, a: space.analytic_flops(a)}
        for name, measure in static.items():
            started = time.perf_counter()
            values[name] = float(measure(self.space, arch))
            seconds[name] = time.perf_counter() - started
        if not self.names:
            return values, seconds
        started = time.perf_counter()
        torch.manual_seed(architecture_seed(self.seed, arch.canonical_hash))
        network = self.space.build_network(arch).to(self.images.device)
        built = time.perf_counter() - started
        scores, spent = zero_cost_scores(network, self.images, self.labels, self.names)
        values.update(scores)
        seconds.update({name: built + s for name, s in spent.items()})
        return values, seconds
