"""Forward-backward propagation (Eq. 15 of the paper), scheduled by topological level.

Eq. 15 updates the nodes one at a time in a topological order s, then in reverse order without
the last node. A node's forward update reads only its parents, which every topological order
has already updated, so all nodes of one level may be updated at once with the same result.
Backward updates read children; the reverse sweep starts below the graph's unique sink, which is
exactly the node Eq. 15 skips at the turnaround. ``ghnas/ghn/reference.py`` holds the
literal node-by-node version the tests compare against.
"""

import torch

from ghnas.propagation.build import PROPAGATION_REGISTRY
from ghnas.structures.packed_graph import LevelStep, ModuleSchedule


class ForwardBackwardPropagation:
    """T passes, each a forward sweep over levels then a backward sweep over reversed edges."""

    def propagate(
        self,
        h: torch.Tensor,
        schedule: ModuleSchedule,
        cell,
        bias: torch.Tensor,
        passes: int,
    ) -> torch.Tensor:
        """Update the module-local embeddings ``h``; ``bias`` is added to every message."""
        for _ in range(passes):
            for step in schedule.forward:
                h = _update_level(h, step, cell, cell.message, bias)
            for step in schedule.backward:
                h = _update_level(h, step, cell, cell.backward_message, bias)
        return h


def _update_level(h, step: LevelStep, cell, message, bias) -> torch.Tensor:
    m = bias.index_select(0, step.nodes)
    if step.src.numel():
        m = m.index_add(0, step.dst_pos, message(h.index_select(0, step.src)))
    return h.index_copy(0, step.nodes, cell.update(m, h.index_select(0, step.nodes)))


@PROPAGATION_REGISTRY.register()
def forward_backward(cfg) -> ForwardBackwardPropagation:
    """Eq. 15: the paper's scheme."""
    return ForwardBackwardPropagation()
