"""A minimal ghnas plug-in, the how-to for a new search space: copy this folder to start one.

An architecture is a chain of convolutions (each 3×3 or 5×5, then ReLU) on ``TEMPLATE.WIDTH``
channels, between a 3×3 stem and a BN-pool-linear head. The entry point in ``pyproject.toml``
names :func:`add_template_config`; loading it imports this module, which registers the
``template`` space in the core ``SEARCH_SPACE_REGISTRY``.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Tuple

from torch import nn

from ghnas.config import CfgNode
from ghnas.search_spaces import SEARCH_SPACE_REGISTRY, SearchSpace, WeightFamily
from ghnas.search_spaces import generated_parameter_names as generated_names
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest
from ghnas.utils.errors import GhnasError

OPS = ("conv_3x3", "conv_5x5")


def add_template_config(cfg) -> None:
    """The plug-in's config hook: adds ``cfg.TEMPLATE`` (its own keys; no core default changes)."""
    cfg.TEMPLATE = CfgNode()
    cfg.TEMPLATE.WIDTH = 8  # channels of every layer
    cfg.TEMPLATE.DEPTH = 3  # convolutions in the chain a sample has


@dataclass(frozen=True)
class ChainArchitecture:
    """Frozen plain data, checked on construction, with ``to_dict`` and ``canonical_hash``."""

    ops: Tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.ops or any(op not in OPS for op in self.ops):
            raise GhnasError(f"template: ops must be a non-empty list of {OPS}, got {self.ops}")

    def to_dict(self) -> dict:
        return {"ops": list(self.ops)}

    @property
    def canonical_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict()).encode()).hexdigest()


class ChainNetwork(nn.Module):
    """The network of one architecture; BN affine is the one part a GHN never generates."""

    def __init__(self, arch: ChainArchitecture, width: int, in_channels: int, classes: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.convs = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(width, width, k, padding=k // 2, bias=False), nn.ReLU())
            for k in (int(op[-1]) for op in arch.ops)
        ))  # fmt: skip
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        return self.classifier(self.head(self.convs(self.stem(x))))

    def generated_parameter_names(self):
        return generated_names(self)


class ChainSpace(SearchSpace):
    """Chains of ``depth`` convolutions at ``width`` channels for images of ``meta``."""

    name = "template"

    def __init__(self, *, width: int, depth: int, meta) -> None:
        if width < 1 or depth < 1:
            raise GhnasError(f"TEMPLATE.WIDTH and DEPTH must be >= 1, got {width}, {depth}")
        self.width, self.depth, self.meta = width, depth, meta

    op_vocabulary = ("stem", *OPS, "classifier")

    @property
    def weight_families(self):
        w, classes = self.width, self.meta.num_classes
        return {"stem": WeightFamily((w, self.meta.channels, 3, 3)),
                "conv": WeightFamily((w, w, 5, 5), centered_dims=(2, 3)),  # 3×3: the centre
                "classifier": WeightFamily((classes, w)),
                "classifier_bias": WeightFamily((classes,))}  # fmt: skip

    @property
    def input_shape(self):
        return (self.meta.channels, self.meta.image_size, self.meta.image_size)

    def sample(self, rng) -> ChainArchitecture:
        picks = rng.integers(len(OPS), size=self.depth)
        return ChainArchitecture(tuple(OPS[int(i)] for i in picks))

    def architecture_from_dict(self, data) -> ChainArchitecture:
        return ChainArchitecture(tuple(data["ops"]))

    def build_network(self, arch) -> ChainNetwork:
        return ChainNetwork(arch, self.width, self.meta.channels, self.meta.num_classes)

    def to_graph(self, arch) -> ComputationGraph:
        """stem -> op nodes -> classifier; requests in ``named_parameters`` order."""
        w, classes, last = self.width, self.meta.num_classes, len(arch.ops) + 1

        def request(name, family, shape, node):
            return ParamRequest(name, shape, (ParamPart(family, 0, shape, node),))

        requests = [request("stem.weight", "stem", (w, self.meta.channels, 3, 3), 0)]
        requests += [request(f"convs.{i}.0.weight", "conv", (w, w, int(op[-1]), int(op[-1])), i + 1)
                     for i, op in enumerate(arch.ops)]  # fmt: skip
        requests += [request("classifier.weight", "classifier", (classes, w), last),
                     request("classifier.bias", "classifier_bias", (classes,), last)]  # fmt: skip
        return ComputationGraph(node_types=("stem", *arch.ops, "classifier"),
                                edges=[(i, i + 1) for i in range(last)],
                                node_module=[0] * (last + 1), requests=tuple(requests))  # fmt: skip

    def analytic_flops(self, arch) -> int:
        """What fvcore counts: convolutions, eval-mode BN (2 per element), pooling, linear."""
        c, w, pixels = self.meta.channels, self.width, self.meta.image_size**2
        convs = sum(w * w * int(op[-1]) ** 2 for op in arch.ops)
        return pixels * (w * c * 9 + convs + 2 * w + w) + w * self.meta.num_classes


@SEARCH_SPACE_REGISTRY.register()
def template(cfg, meta, training: bool = False) -> ChainSpace:
    """The registry entry ``SEARCH_SPACE.NAME: template`` (the GHN trains on what it ranks)."""
    return ChainSpace(width=cfg.TEMPLATE.WIDTH, depth=cfg.TEMPLATE.DEPTH, meta=meta)
