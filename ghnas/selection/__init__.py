from ghnas.selection import accuracy as _accuracy  # noqa: F401  (registration)
from ghnas.selection import anytime_auc as _anytime_auc  # noqa: F401  (registration)
from ghnas.selection.accuracy import AccuracyCriterion
from ghnas.selection.anytime_auc import AnytimeAUCCriterion, area_under_anytime_curve
from ghnas.selection.build import SELECTION_REGISTRY, build_criterion

__all__ = [
    "SELECTION_REGISTRY",
    "AccuracyCriterion",
    "AnytimeAUCCriterion",
    "area_under_anytime_curve",
    "build_criterion",
]
