from ghnas.selection import accuracy as _accuracy  # noqa: F401  (registration)
from ghnas.selection.accuracy import AccuracyCriterion
from ghnas.selection.build import SELECTION_REGISTRY, build_criterion

__all__ = ["SELECTION_REGISTRY", "AccuracyCriterion", "build_criterion"]
