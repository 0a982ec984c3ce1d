from ghnas.evaluation.ranking_metrics import (
    bootstrap_interval,
    bootstrap_intervals,
    correlations,
    precision_at_k,
    ranking_statistics,
    top_half,
    top_half_correlations,
)

__all__ = [
    "bootstrap_interval",
    "bootstrap_intervals",
    "correlations",
    "precision_at_k",
    "ranking_statistics",
    "top_half",
    "top_half_correlations",
]
