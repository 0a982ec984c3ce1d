"""The one-shot baseline of Table 4: shared weights, one path per architecture (ENAS, Pham et
al., 2018; on NAS-Bench-201 the uniform single-path supernet of its authors).

One over-parametrised model stores a weight per (parameter name, op of the node that owns it):
in the classification space a name is a (block, node position) or a block input, so an
architecture's network takes the weights at its own (position, op) pairs, and two architectures
with the same op at the same position share them; in NAS-Bench-201 a name is a (cell, edge), so
the model is the supernet of 6 edges × 5 ops per cell. A weight assembled from chunks (a block
input or the classifier, reading the concatenated leaves) stores a chunk per position of the
node the chunk reads. BN runs on batch statistics without affine weights, as for GHN-generated
weights.

The model answers ``generate(space, archs)`` like a GHN, so it trains with the GHN trainer
(random architectures, ``SOLVER.MAX_ITER`` steps) and scores with the search's scorer. Unlike the
GHN it is tied to one node count: it must train at the evaluated N.

Keys are read off the computation graph (parameter name, node type, slot and shape; chunks by the
module and position of the node they read), so the model holds exactly what the graphs request.
The table is filled from the space's covering architectures
(:meth:`~ghnas.search_spaces.base.SearchSpace.one_shot_cover`).
"""

import math
import os
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.ghn.checkpoint import ghn_identity
from ghnas.ghn.hypernet import assemble_parts
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest
from ghnas.trainers.ghn_trainer import SOLVER_KEYS, GHNTrainer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

# Recorded in the one-shot checkpoint's identity: tables keyed otherwise do not load.
ONE_SHOT_KEYS_VERSION = 2


class OneShotModel(nn.Module):
    """Shared weights for every architecture of ``space`` (at its node count, if it has one)."""

    def __init__(self, space) -> None:
        super().__init__()
        self.num_nodes = getattr(space, "num_nodes", None)
        self.table = nn.ParameterDict()
        for arch in space.one_shot_cover():
            graph = space.to_graph(arch)
            starts = module_starts(graph)
            for request in graph.requests:
                for part in request.parts:
                    key = part_key(graph, request, part, starts)
                    if key not in self.table:
                        self.table[key] = nn.Parameter(_initial(part.shape))

    def generate(self, space, archs: Sequence[Any]) -> List[Dict[str, torch.Tensor]]:
        """Each architecture's weights (name -> tensor) taken from the shared table."""
        params = []
        for arch in archs:
            if self.num_nodes is not None and arch.num_nodes != self.num_nodes:
                raise GhnasError(
                    f"one-shot: the model holds blocks of {self.num_nodes} nodes, not "
                    f"{arch.num_nodes}; it must be trained at the evaluated node count"
                )
            graph = space.to_graph(arch)
            starts = module_starts(graph)
            params.append(
                {
                    request.name: assemble_parts(
                        [self.table[part_key(graph, request, p, starts)] for p in request.parts],
                        request.shape,
                    )
                    for request in graph.requests
                }
            )
        return params


def train_one_shot(
    cfg, splits, space, *, arch_stream: int, meta_batch: int, excluded_hashes=(), resume: bool
):
    """A :class:`OneShotModel` trained by the GHN trainer with SOLVER.* (in
    ``OUTPUT_DIR/one_shot``, resumable), on ``meta_batch`` architectures of seeded stream
    ``arch_stream`` per step; returns the model and its training seconds."""
    torch.manual_seed(cfg.SEED)
    model = OneShotModel(space).to(cfg.MODEL.DEVICE)
    directory = os.path.join(cfg.OUTPUT_DIR, "one_shot")
    identity = {
        **ghn_identity(cfg, space),
        "weight_generator": "one_shot",
        "one_shot_keys": ONE_SHOT_KEYS_VERSION,
        "meta_batch": meta_batch,
        "space_settings": space.describe(),
        "seed": cfg.SEED,
        "split": dataset_fingerprint(cfg),
        "solver": {k: cfg.SOLVER[k] for k in SOLVER_KEYS},
    }
    trainer = GHNTrainer.for_generator(
        cfg, splits, generator=model, space=space, identity=identity, arch_stream=arch_stream,
        meta_batch=meta_batch, checkpoint_dir=directory, phase="one_shot",
        excluded_hashes=excluded_hashes,
    )  # fmt: skip
    trainer.train(resume=resume)
    with PathManager.open(os.path.join(directory, "model_final.pth"), "rb") as f:
        seconds = torch.load(f, map_location="cpu")["train_seconds"]
    return model, seconds


def part_key(
    graph: ComputationGraph, request: ParamRequest, part: ParamPart, starts: Dict[int, int]
) -> str:
    """Where ``part`` of ``request`` lives in the shared table (no dots: it names a parameter);
    ``starts`` holds each module's first node (:func:`module_starts`)."""
    shape = "x".join(map(str, part.shape))
    key = f"{request.name.replace('.', '_')}__{graph.node_types[part.node]}_s{part.slot}_{shape}"
    if part.source >= 0:
        source_module = int(graph.node_module[part.source])
        key += f"_from_m{source_module}_p{part.source - starts[source_module]}"
    return key


def module_starts(graph: ComputationGraph) -> Dict[int, int]:
    """Module index -> its first node (a module's nodes are consecutive)."""
    modules = graph.node_module
    values, first = np.unique(modules, return_index=True)
    return dict(zip(values.tolist(), first.tolist()))


def _initial(shape) -> torch.Tensor:
    """PyTorch's default conv/linear initialisation, U(±1/sqrt(fan_in)); biases start at 0."""
    if len(shape) == 1:
        return torch.zeros(shape)
    bound = 1.0 / math.sqrt(math.prod(shape[1:]))
    return torch.empty(shape).uniform_(-bound, bound)
