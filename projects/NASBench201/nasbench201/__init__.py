"""NAS-Bench-201 as a ghnas project: importing the package registers ``nasbench201``."""

from .architecture import EDGES, NB201_OPS, NB201Architecture
from .config import add_nasbench201_config
from .network import NASBench201Network
from .space import NASBench201SearchSpace

__all__ = [
    "EDGES",
    "NB201_OPS",
    "NB201Architecture",
    "NASBench201Network",
    "NASBench201SearchSpace",
    "add_nasbench201_config",
]
