"""ghnas: neural architecture search with Graph HyperNetworks (Zhang, Ren & Urtasun, ICLR 2019).

Sub-packages: ``config`` (defaults and get_cfg), ``structures`` (architectures and graphs as plain
data), ``layers`` (operators), ``data`` (DATASET_REGISTRY), ``search_spaces``
(SEARCH_SPACE_REGISTRY), ``ghn`` (GHN_REGISTRY), ``propagation`` (PROPAGATION_REGISTRY),
``selection`` (SELECTION_REGISTRY), ``trainers`` (TRAINER_REGISTRY), ``search`` (random search),
``engine`` (entry-point plumbing), ``utils``; ``api`` is the small Python API.
"""

__version__ = "0.1.0"
