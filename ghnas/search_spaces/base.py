"""The search-space contract: the only thing the GHN and the search know about a space."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ghnas.structures.graph import ComputationGraph
from ghnas.utils.errors import GhnasError


@dataclass(frozen=True)
class WeightFamily:
    """A family of generated parameters served by one hypernet output branch.

    The branch emits ``slots`` copies of a ``shape`` tensor; a request takes the leading slice
    of one slot, centre-cropping ``centered_dims`` (kernel dims: a 3×3 kernel is the centre of
    the 5×5 one). ``source`` is "node" (generated from a node embedding) or "edge" (from
    ``[h_source ; h_node]``: per-incoming-edge chunks whose count depends on the architecture).
    """

    shape: Tuple[int, ...]
    source: str = "node"
    slots: int = 1
    centered_dims: Tuple[int, ...] = ()


class SearchSpace(ABC):
    """A search space: samples architectures and turns one into a graph and a network.

    A space plugs into ghnas by implementing this class and registering a builder in
    ``SEARCH_SPACE_REGISTRY``. The contract:

    - ``name`` and ``op_vocabulary``: the node types its graphs use (the GHN embeds them);
    - ``weight_families``: the hypernet output branches its parameters come from,
      ``num_modules``: how many stacked modules its graphs have (1 for a flat graph), and
      ``node_feature_sizes``: extra categorical node attributes (none by default);
    - ``sample(rng)``: one architecture drawn with a ``numpy.random.Generator``;
    - ``architecture_from_dict(data)``: the inverse of ``arch.to_dict()``;
    - ``to_graph(arch)``: the :class:`ComputationGraph` including every parameter request;
    - ``build_network(arch)``: an ``nn.Module`` whose ``generated_parameter_names()`` are
      exactly the requested names (everything but BN affine and auxiliary heads);
    - ``generated_parameter_shapes(arch)``: name -> shape of those parameters;
    - ``analytic_flops(arch)``: FLOPs exactly as ``ghnas.utils.flops.count_flops`` (fvcore,
      eval mode, batch 1, one multiply-add = one FLOP) counts the built network;
    - optionally ``draw(arch, directory)``: PNG drawings of the architecture;
    - optionally ``build_fused_network(archs)``: one module running many architectures at once.

    An architecture is frozen plain data with ``to_dict()``, ``canonical_hash`` and validation
    on construction.
    """

    name: str = ""

    @property
    @abstractmethod
    def op_vocabulary(self) -> Tuple[str, ...]:
        """Every node type a graph of this space may contain."""

    @property
    @abstractmethod
    def weight_families(self) -> Dict[str, WeightFamily]:
        """Hypernet output branches, by family name."""

    @property
    def num_modules(self) -> int:
        """Stacked modules in every graph of the space."""
        return 1

    @property
    def node_feature_sizes(self) -> Dict[str, int]:
        """Categorical node features its graphs carry besides the type: name -> values."""
        return {}

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(channels, height, width) of one input image."""
        raise NotImplementedError

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one architecture."""

    @abstractmethod
    def architecture_from_dict(self, data: Dict[str, Any]) -> Any:
        """Parse an architecture written by ``arch.to_dict()``."""

    @abstractmethod
    def to_graph(self, arch: Any) -> ComputationGraph:
        """The computation graph of ``arch`` with its parameter requests."""

    @abstractmethod
    def build_network(self, arch: Any) -> nn.Module:
        """The network executing ``arch``, with ordinary parameters."""

    def generated_parameter_shapes(self, arch: Any) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every parameter the GHN generates for ``arch``."""
        return {r.name: r.shape for r in self.to_graph(arch).requests}

    @abstractmethod
    def analytic_flops(self, arch: Any) -> int:
        """``count_flops(build_network(arch), input_shape)`` without building the network."""

    # Whether networks of the space return one logits tensor per early exit (a list).
    early_exits: bool = False

    def describe(self) -> Dict[str, Any]:
        """The settings that decide the space's architectures and scores (for results headers)."""
        return {}

    def build_fused_network(self, archs: Sequence[Any]) -> Optional[nn.Module]:
        """One module that runs all of ``archs`` together on generated weights, or None.

        Called as ``fused(params, x)`` with ``params`` one generated-parameter dict per
        architecture (what the GHN returns), it returns logits of shape
        ``(len(archs), batch, classes)`` equal to what
        :func:`~ghnas.layers.batch_statistics.run_with_generated_weights` gives for each built
        network (BN on batch statistics). The scorer and the GHN trainer use it where a space
        has one (``MODEL.FUSED_NETWORKS``): networks that differ only in their ops can share
        kernels (grouped convolutions), which a loop over networks cannot. None, the default,
        means networks run one at a time.
        """
        return None

    def one_shot_cover(self) -> List[Any]:
        """Architectures whose graphs together request every weight the one-shot baseline
        (:class:`~ghnas.evaluation.one_shot.OneShotModel`) shares: every parameter name with
        every op that can own it. A space without them has no one-shot baseline."""
        raise GhnasError(
            f"the one-shot baseline needs search space '{self.name}' to name covering "
            "architectures (SearchSpace.one_shot_cover) and it has none; leave the baseline out "
            "(CORRELATION.ONE_SHOT False)"
        )

    def draw(self, arch: Any, directory: str) -> List[str]:
        """Write PNG drawings of ``arch`` into ``directory``; returns their paths (none here)."""
        return []


def generated_parameter_names(network: nn.Module) -> List[str]:
    """Names of ``network``'s parameters a GHN generates.

    All but BatchNorm affine and the parameters of any module whose class sets
    ``ghn_generated = False`` (training-only parts such as an auxiliary head), submodules included.
    """
    skipped = {
        f"{prefix}.{name}" if prefix else name
        for prefix, module in network.named_modules()
        if isinstance(module, _BatchNorm) or not getattr(module, "ghn_generated", True)
        for name, _ in module.named_parameters()
    }
    return [name for name, _ in network.named_parameters() if name not in skipped]
