"""Checkpoint and resume bookkeeping of the GHN trainer.

Checkpoints (fvcore Checkpointer) hold the GHN, Adam, the moving average (``GHN.EMA_DECAY``) and
every random generator, so ``--resume`` continues bit for bit; a checkpoint of another training
is refused before anything is loaded. Under torchrun rank 0 writes them; they hold every rank's
generators (:class:`PerRankState`) and every rank's count of redrawn held-out architectures.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from fvcore.common.checkpoint import PeriodicCheckpointer

from ghnas.engine.distributed import (
    all_gather_object,
    get_rank,
    get_world_size,
    is_main_process,
    on_main_process,
    synchronize,
)
from ghnas.engine.per_rank_state import PerRankState
from ghnas.ghn.checkpoint import check_identity, ghn_checkpointer, read_checkpoint
from ghnas.utils.checkpoint import readable_checkpoint
from ghnas.utils.file_io import PathManager

logger = logging.getLogger("ghnas")


@dataclass
class ResumePoint:
    """Where a training starts: iteration 0, or the state a checkpoint restored."""

    iteration: int = 0
    train_seconds: float = 0.0
    excluded_draws: Optional[int] = None  # None: nothing restored; the trainer keeps its count
    checkpoint: Dict[str, Any] = field(default_factory=dict)


class GHNCheckpoints:
    """The checkpoints of one GHN training: the periodic saves, the resume and the final file.

    Every save also stores ``identity`` (what makes it the same training) and the training
    seconds so far, so a resumed run reports the total time.
    """

    def __init__(
        self,
        *,
        ghn,
        optimizer,
        rng_state: PerRankState,
        ema,
        checkpoint_dir: str,
        checkpoint_period: int,
        max_iter: int,
        identity: dict,
        phase: str,
    ) -> None:
        extra = {"ema": ema} if ema is not None else {}
        self.checkpointer = ghn_checkpointer(
            ghn, checkpoint_dir, optimizer=optimizer, rng=rng_state, **extra
        )
        self.periodic = PeriodicCheckpointer(
            self.checkpointer, checkpoint_period, max_iter=max_iter
        )
        self.rng_state, self.identity = rng_state, identity
        self.max_iter, self.phase = max_iter, phase
        self.world_size = get_world_size()

    def check_resume(self):
        """The checkpoint ``--resume`` would continue (None when there is none), after raising
        :class:`GhnasError` if it belongs to another training (reads only)."""
        last = self.checked_last()
        return last[0] if last else None

    def checked_last(self):
        """``(path, data)`` of the last checkpoint after its identity check, or None."""
        if not self.checkpointer.has_checkpoint():
            return None
        path = self.checkpointer.get_checkpoint_file()
        data = read_checkpoint(path)
        check_identity(data, self.identity, path)
        return path, data

    def start(self, resume: bool) -> ResumePoint:
        """Where training starts: with ``resume``, the state of the last checkpoint (when there
        is one) loaded into the GHN, Adam and the generators; without, iteration 0."""
        if is_main_process():
            PathManager.mkdirs(self.checkpointer.save_dir)
        last = self.checked_last() if resume else None
        if last is not None:
            return self.restore(*last)
        if not resume:
            # A fresh run must never be "resumed" from an older run's checkpoints later on.
            stale = os.path.join(self.checkpointer.save_dir, "last_checkpoint")
            if is_main_process() and PathManager.exists(stale):
                PathManager.rm(stale)
        return ResumePoint()

    def restore(self, path: str, data: dict) -> ResumePoint:
        """Load the checkpoint at ``path`` (``data``: what it holds, as read for the identity
        check); this rank's excluded-draw count comes back with it.

        A finished training continues nothing, so only its weights load (the GHN and its moving
        average): its generators may come from another number of processes, as when a GHN
        trained on one process is evaluated under torchrun.
        """
        finished = data.get("iteration", -1) + 1 >= self.max_iter
        if finished:
            weights = [name for name in ("ema",) if name in self.checkpointer.checkpointables]
            checkpoint = self.checkpointer.load(path, checkpointables=weights)
        else:
            checkpoint = self.checkpointer.resume_or_load(path, resume=True)
        per_rank = checkpoint.get("excluded_draws_per_rank")
        if per_rank and len(per_rank) == self.world_size:
            draws = per_rank[get_rank()]
        else:  # one process's count, or a finished run's total (reported, never added to)
            draws = checkpoint.get("excluded_draws", 0)
        point = ResumePoint(
            iteration=checkpoint.get("iteration", -1) + 1,
            train_seconds=float(checkpoint.get("train_seconds", 0.0)),
            excluded_draws=int(draws),
            checkpoint=checkpoint,
        )
        logger.info(f"{self.phase}: resuming from iteration {point.iteration}")
        return point

    def step(self, iteration: int, train_seconds: float, excluded_draws: int) -> None:
        """After ``iteration``: save when the period (or the last iteration) says so."""
        self.periodic.step(
            iteration, train_seconds=train_seconds,
            **self.draw_counts(iteration, excluded_draws), **self.identity,
        )  # fmt: skip

    def ensure_final(self, checkpoint: dict) -> None:
        """Write ``model_final.pth`` from the last checkpoint when a kill came between saving
        the last iteration and the final file (both are saved at the last iteration)."""
        final = os.path.join(self.checkpointer.save_dir, "model_final.pth")
        if on_main_process(lambda: readable_checkpoint(final)):
            return
        if self.world_size > 1:
            self.rng_state.gather()  # the checkpoint holds every rank's generators
        logger.info(f"{self.phase}: writing the missing {final} from the last checkpoint")
        self.checkpointer.save("model_final", **checkpoint)  # its state is loaded already
        synchronize()

    def draw_counts(self, iteration: int, excluded_draws: int) -> dict:
        """The excluded-draw counts the checkpoint of ``iteration`` stores (summed over ranks,
        and each rank's under torchrun); gathers every rank's generators when one is saved."""
        if self.world_size == 1:
            return {"excluded_draws": excluded_draws}
        saves = (iteration + 1) % self.periodic.period == 0 or iteration >= self.max_iter - 1
        if not saves:  # no collective on steps without a checkpoint
            return {}
        self.rng_state.gather()
        draws = all_gather_object(excluded_draws)
        return {"excluded_draws": sum(draws), "excluded_draws_per_rank": draws}
