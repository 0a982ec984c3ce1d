"""Checkpointing state that differs from rank to rank (random generators, counters).

Every rank draws its own architectures and batches, so a resumed run must give each rank back
its own generators, while only rank 0 writes the checkpoint. :class:`PerRankState` wraps the
state of this rank:

- one process: it *is* the wrapped state, so a one-process checkpoint looks as it always did;
- N processes: every rank calls :meth:`gather` before a save (a collective); the checkpoint then
  holds ``{"world_size": N, "ranks": [state of rank 0, ..., state of rank N-1]}`` and on resume
  each rank loads its own entry. A checkpoint written by another number of processes is refused
  with one line: the streams would not continue.
"""

from typing import Any, Dict, Optional

from ghnas.engine.distributed import all_gather_object, get_rank, get_world_size
from ghnas.utils.errors import GhnasError


class PerRankState:
    """fvcore checkpointable of ``local`` (anything with ``state_dict``/``load_state_dict``)."""

    def __init__(self, local) -> None:
        self.local = local
        self._gathered: Optional[list] = None

    def gather(self) -> None:
        """Collect every rank's state; every rank must call it before each step that saves."""
        if get_world_size() > 1:
            self._gathered = all_gather_object(self.local.state_dict())

    def state_dict(self) -> Dict[str, Any]:
        """This process's state (one process) or every rank's, as gathered last."""
        world = get_world_size()
        if world == 1:
            return self.local.state_dict()
        if self._gathered is None:  # a programming error, not bad input
            raise RuntimeError("PerRankState.gather() must run on every rank before a save")
        # Kept, not consumed: the last step saves twice (the periodic file and model_final).
        return {"world_size": world, "ranks": self._gathered}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore this rank's entry of a state written by as many processes as run now."""
        world = get_world_size()
        saved = int(state["world_size"]) if "ranks" in state else 1
        if saved != world:
            raise GhnasError(
                f"the checkpoint was written by {saved} process(es) but {world} run now; resume "
                f"with torchrun --nproc_per_node {saved} (each process continues its own stream)"
            )
        self.local.load_state_dict(state["ranks"][get_rank()] if world > 1 else state)
