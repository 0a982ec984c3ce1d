"""The estimators of Table 4: one score per held-out architecture, what it cost, and how well it
ranks the architectures against their ground truth.

A surrogate (the GHN, the one-shot model) scores by accuracy with generated weights and has the
initial cost of its training; the training-free baselines cost only per architecture; SGD for k
steps is read off the ground-truth runs' snapshots.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from ghnas.engine.distributed import all_gather_object, get_world_size, shard
from ghnas.evaluation.baseline_scorer import BaselineScorer
from ghnas.evaluation.ranking_metrics import bootstrap_intervals, ranking_statistics
from ghnas.evaluation.zero_cost import rankable

logger = logging.getLogger("ghnas")


@dataclass
class Estimator:
    """One row of Table 4: a score per architecture and what the scores cost."""

    name: str
    scores: List[float]
    initial_seconds: Optional[float]  # None: no initial cost (shown as "-")
    per_arch_seconds: float


def timed_scores(name: str, scorer, archs, initial_seconds) -> Estimator:
    """The scores of ``archs`` by ``scorer`` (an :class:`ArchitectureScorer`), shared between
    the ranks and timed: the cost is one process's seconds per architecture under any number of
    ranks (the wall time times the ranks, over the architectures)."""
    started = time.perf_counter()
    scores = scorer.score_shared(archs)
    per_arch = (time.perf_counter() - started) * get_world_size() / len(archs)
    logger.info(f"correlation: {name} scored {len(archs)} architectures, {per_arch:.3f} s each")
    return Estimator(name, scores, initial_seconds, per_arch)


def static_estimators(cfg, space, splits, archs) -> List[Estimator]:
    """The training-free baselines: parameter count, FLOPs and ZERO_COST.ESTIMATORS (each
    on the architecture's own seeded network and one mini-batch of the validation split).
    Under torchrun the architectures are dealt out between the ranks (strided) and gathered:
    a network's seed is its own, so the values do not depend on the rank that computes them."""
    scorer = BaselineScorer.from_config(cfg, space, splits.val, splits.meta)
    mine = [(i, *scorer.score(arch)) for i, arch in shard(list(enumerate(archs)))]
    measured = sorted((row for rows in all_gather_object(mine) for row in rows), key=lambda r: r[0])
    values = {name: [found[name] for _, found, _ in measured] for name in scorer.estimator_names}
    seconds = {name: sum(spent[name] for *_, spent in measured) for name in values}
    n = len(archs)
    return [Estimator(name, rankable(values[name]), None, seconds[name] / n) for name in values]


def snapshot_estimators(records, snapshot_steps) -> List[Estimator]:
    """SGD for k steps: snapshots of the ground-truth runs, one estimator per k."""
    return [
        Estimator(
            f"SGD {k} steps",
            [r["snapshots"][str(k)]["val_accuracy"] for r in records],
            None,
            float(np.mean([r["snapshots"][str(k)]["seconds"] for r in records])),
        )
        for k in snapshot_steps
    ]


def estimator_metrics(
    estimator: Estimator, truth, keys, *, resamples: int, seed: int
) -> Dict[str, Any]:
    """Point values and bootstrap intervals of every ranking statistic, with the costs."""
    n = len(truth)
    ks = sorted({max(1, round(0.1 * n)), *([10] if n >= 10 else [])})

    def statistics(x, y, k):
        return ranking_statistics(x, y, k, ks)

    values = statistics(np.asarray(estimator.scores, float), np.asarray(truth, float), keys)
    intervals = bootstrap_intervals(
        statistics, estimator.scores, truth, keys, resamples=resamples, seed=seed
    )
    return {
        **values,
        "intervals": intervals,
        "initial_seconds": estimator.initial_seconds,
        "per_arch_seconds": estimator.per_arch_seconds,
    }
