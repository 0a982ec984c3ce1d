from ghnas.propagation import forward_backward, synchronous  # noqa: F401  (registration)
from ghnas.propagation.build import PROPAGATION_REGISTRY, build_propagation
from ghnas.propagation.forward_backward import ForwardBackwardPropagation
from ghnas.propagation.synchronous import SynchronousPropagation

__all__ = [
    "PROPAGATION_REGISTRY",
    "ForwardBackwardPropagation",
    "SynchronousPropagation",
    "build_propagation",
]
