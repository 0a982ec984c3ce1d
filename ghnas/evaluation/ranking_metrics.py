"""How well a predicted ranking agrees with ground truth: correlations, top half, precision@k.

Correlations come from ``scipy.stats`` (Pearson r, Spearman ρ, Kendall τ-b) with their signs
kept. "Top half" follows the paper's Top-50 of Table 4: the ⌈n/2⌉ architectures with the highest
ground truth, ties broken by key (hash or benchmark index) so the selection is reproducible.
Intervals are percentile bootstraps whose resamples re-select their own top half.
"""

import math
from typing import Callable, Dict, Sequence, Tuple

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


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray, list], float],
    predicted: Sequence[float],
    truth: Sequence[float],
    keys: Sequence,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Tuple[float, float]:
    """Percentile interval of ``statistic(predicted, truth, keys)`` over seeded resamples.

    Each resample draws n architectures with replacement and recomputes the statistic from
    scratch (a top-half statistic re-selects its top half); resamples where it is undefined
    (NaN) are dropped.
    """
    x, y = _pair(predicted, truth)
    keys = list(keys)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(x), size=len(x))
        value = statistic(x[pick], y[pick], [keys[i] for i in pick])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return (float(low), float(high))


def _pair(predicted, truth) -> Tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise GhnasError(
            f"predicted {x.shape} and ground truth {y.shape} must be equal-length lists"
        )
    if len(x) == 0:
        raise GhnasError("no architectures to compare: the set is empty")
    return x, y
