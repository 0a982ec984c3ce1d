"""How well a predicted ranking agrees with ground truth: correlations, top half, precision@k.

Correlations come from ``scipy.stats`` (Pearson r, Spearman ρ, Kendall τ-b) with their signs
kept. "Top half" follows the paper's Top-50 of Table 4: the ⌈n/2⌉ architectures with the highest
ground truth, ties broken by key (hash or benchmark index) so the selection is reproducible.
Intervals are percentile bootstraps whose resamples re-select their own top half.
"""

import math
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from scipy import stats

from ghnas.utils.errors import GhnasError


def correlations(predicted: Sequence[float], truth: Sequence[float]) -> Dict[str, float]:
    """Pearson r, Spearman ρ, Kendall τ-b of ``predicted`` against ``truth`` (NaN if constant)."""
    x, y = _pair(predicted, truth)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": math.nan, "spearman": math.nan, "kendall": math.nan}
    return {
        "pearson": float(stats.pearsonr(x, y)[0]),
        "spearman": float(stats.spearmanr(x, y)[0]),
        "kendall": float(stats.kendalltau(x, y, variant="b")[0]),
    }


def top_half(truth: Sequence[float], keys: Sequence) -> np.ndarray:
    """Indices of the ⌈n/2⌉ highest ``truth`` values, ties broken by ascending ``keys``."""
    truth = np.asarray(truth, dtype=float)
    order = sorted(range(len(truth)), key=lambda i: (-truth[i], keys[i]))
    return np.array(sorted(order[: math.ceil(len(truth) / 2)]), dtype=int)


def precision_at_k(predicted: Sequence[float], truth: Sequence[float], keys: Sequence, k: int):
    """Fraction of the predicted top ``k`` that are in the true top ``k`` (ties by key)."""
    x, y = _pair(predicted, truth)
    if not 1 <= k <= len(x):
        raise GhnasError(f"precision@k needs 1 <= k <= {len(x)}, got k={k}")
    best_predicted = sorted(range(len(x)), key=lambda i: (-x[i], keys[i]))[:k]
    best_true = sorted(range(len(y)), key=lambda i: (-y[i], keys[i]))[:k]
    return len(set(best_predicted) & set(best_true)) / k


def top_half_correlations(predicted, truth, keys) -> Dict[str, float]:
    """:func:`correlations` restricted to the true top half."""
    chosen = top_half(truth, keys)
    x, y = _pair(predicted, truth)
    return correlations(x[chosen], y[chosen])


def ranking_statistics(predicted, truth, keys, ks: Sequence[int] = ()) -> Dict[str, float]:
    """Correlations over all and over the true top half, and precision@k for each ``k``."""
    x, y = _pair(predicted, truth)
    stats_ = dict(correlations(x, y))
    stats_.update({f"top_half_{k}": v for k, v in top_half_correlations(x, y, keys).items()})
    for k in ks:
        stats_[f"precision_at_{k}"] = precision_at_k(x, y, keys, k)
    return stats_


def bootstrap_intervals(
    statistics: Callable[[np.ndarray, np.ndarray, list], Dict[str, float]],
    predicted: Sequence[float],
    truth: Sequence[float],
    keys: Sequence,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Dict[str, Tuple[float, float]]:
    """Percentile interval of every value of ``statistics(predicted, truth, keys)``.

    Each seeded resample draws n architectures with replacement and recomputes the statistics
    from scratch (a top-half statistic re-selects its top half); a resample where a statistic is
    undefined (NaN) is dropped for that statistic only.
    """
    x, y = _pair(predicted, truth)
    keys = list(keys)
    rng = np.random.default_rng(seed)
    values: Dict[str, List[float]] = {}
    for _ in range(resamples):
        pick = rng.integers(0, len(x), size=len(x))
        for name, value in statistics(x[pick], y[pick], [keys[i] for i in pick]).items():
            values.setdefault(name, [])
            if not math.isnan(value):
                values[name].append(value)
    tail = (1 - level) / 2 * 100
    intervals = {}
    for name, found in values.items():
        low, high = np.percentile(found, [tail, 100 - tail]) if found else (math.nan, math.nan)
        intervals[name] = (float(low), float(high))
    return intervals


def bootstrap_interval(statistic, predicted, truth, keys, **kwargs) -> Tuple[float, float]:
    """:func:`bootstrap_intervals` of a single scalar ``statistic(predicted, truth, keys)``."""
    intervals = bootstrap_intervals(
        lambda x, y, k: {"value": statistic(x, y, k)}, predicted, truth, keys, **kwargs
    )
    return intervals.get("value", (math.nan, math.nan))


def _pair(predicted, truth) -> Tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise GhnasError(
            f"predicted {x.shape} and ground truth {y.shape} must be equal-length lists"
        )
    if len(x) == 0:
        raise GhnasError("no architectures to compare: the set is empty")
    return x, y
