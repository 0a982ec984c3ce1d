"""Synchronous propagation: every node updated at once from its parents and its children.

One pass is 2L - 1 simultaneous updates, L being the number of topological levels of the
node's own graph (module), so that T passes have the sequential depth of T forward-backward
passes. Graphs packed together may differ in L; a node stops changing after its own count.
"""

import torch

from ghnas.propagation.build import PROPAGATION_REGISTRY
from ghnas.structures.packed_graph import ModuleSchedule


class SynchronousPropagation:
    """Messages from parents (M) and children (backward M) summed, all nodes updated together."""

    def propagate(
        self,
        h: torch.Tensor,
        schedule: ModuleSchedule,
        cell,
        bias: torch.Tensor,
        passes: int,
    ) -> torch.Tensor:
        """Update the module-local embeddings ``h``; ``bias`` is added to every message."""
        src, dst = schedule.edges[:, 0], schedule.edges[:, 1]
        for _ in range(passes):
            for t in range(schedule.max_sync_steps):
                m = bias
                if src.numel():
                    m = m.index_add(0, dst, cell.message(h.index_select(0, src)))
                    m = m.index_add(0, src, cell.backward_message(h.index_select(0, dst)))
                active = (schedule.sync_steps > t).unsqueeze(1)
                h = torch.where(active, cell.update(m, h), h)
        return h


@PROPAGATION_REGISTRY.register()
def synchronous(cfg) -> SynchronousPropagation:
    """The standard GNN scheme (Li et al., 2016)."""
    return SynchronousPropagation()
