from ghnas.search_spaces import anytime as _anytime  # noqa: F401  (registration)
from ghnas.search_spaces.anytime import AnytimeSearchSpace
from ghnas.search_spaces.base import SearchSpace, WeightFamily, generated_parameter_names
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY, build_search_space
from ghnas.search_spaces.classification import ClassificationSearchSpace

__all__ = [
    "SEARCH_SPACE_REGISTRY",
    "AnytimeSearchSpace",
    "ClassificationSearchSpace",
    "SearchSpace",
    "WeightFamily",
    "build_search_space",
    "generated_parameter_names",
]
