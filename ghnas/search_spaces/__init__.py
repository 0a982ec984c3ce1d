from ghnas.search_spaces import anytime as _anytime  # noqa: F401  (registration)
from ghnas.search_spaces import imagenet_mobile as _imagenet_mobile  # noqa: F401  (registration)
from ghnas.search_spaces.anytime import AnytimeSearchSpace
from ghnas.search_spaces.base import SearchSpace, WeightFamily, generated_parameter_names
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY, build_search_space
from ghnas.search_spaces.classification import ClassificationSearchSpace
from ghnas.search_spaces.classification_layout import ClassificationLayout
from ghnas.search_spaces.imagenet_mobile import ImageNetMobileSearchSpace

__all__ = [
    "SEARCH_SPACE_REGISTRY",
    "AnytimeSearchSpace",
    "ClassificationLayout",
    "ClassificationSearchSpace",
    "ImageNetMobileSearchSpace",
    "SearchSpace",
    "WeightFamily",
    "build_search_space",
    "generated_parameter_names",
]
