from ghnas.evaluation.ranking_metrics import (
    bootstrap_interval,
    correlations,
    precision_at_k,
    top_half,
    top_half_correlations,
)

__all__ = [
    "bootstrap_interval",
    "correlations",
    "precision_at_k",
    "top_half",
    "top_half_correlations",
]
