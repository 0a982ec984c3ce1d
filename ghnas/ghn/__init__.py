from ghnas.ghn.build import GHN_REGISTRY, build_ghn
from ghnas.ghn.graph_hypernetwork import GraphHyperNetwork
from ghnas.ghn.hypernet import HyperNetwork

__all__ = ["GHN_REGISTRY", "GraphHyperNetwork", "HyperNetwork", "build_ghn"]
