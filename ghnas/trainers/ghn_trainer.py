"""The "ghn" phase: train a graph hypernetwork on freshly sampled architectures (section 4.5).

Every step samples ``GHN.META_BATCH`` architectures (at ``GHN.TRAIN_NUM_NODES`` nodes), generates
all their weights in one packed graph, runs each network on the same image batch, and
back-propagates the mean training loss into the GHN. Adam, learning rate halved at 50% and 75% of
``SOLVER.MAX_ITER``, gradient clipping (``ghn_update.py``). Checkpoints (fvcore Checkpointer) hold
the GHN, Adam and every random generator, so ``--resume`` continues bit for bit
(``ghn_checkpoints.py``); the loss of the generated-weight networks is ``ghn_loss.py``.

Under torchrun (N processes) the training is data-parallel: rank ``r`` draws its architectures
from ``default_rng([SEED, 1, r])`` and its images from a stream seeded by
:func:`~ghnas.data.train_streams.batch_seed`, so the effective meta-batch is N x
``GHN.META_BATCH``. Rank 0's streams are those of a one-process run (numpy ignores the trailing 0
of ``[SEED, 1, 0]``), so one process is bit for bit unchanged.
Gradients are averaged over ranks with one explicit all-reduce (:func:`average_gradients`)
before clipping, rather than by wrapping the GHN in ``DistributedDataParallel``: DDP hooks
``forward`` (its ``__call__`` prepares the gradient reducer) but the GHN is driven through
``generate(space, archs)``, and which parameters get gradients changes from step to step and
rank to rank (the weight families of the sampled ops), which DDP only handles with
``find_unused_parameters``. The averaged gradients are identical on every rank, so the clipped
Adam steps keep the GHNs identical. The logged loss is the mean over ranks. Rank 0 writes the
checkpoints; they hold every rank's generators (:class:`PerRankState`).

The trainer only needs ``ghn.generate(space, archs)``, so any weight generator trains with it
(the correlation benchmark's one-shot baseline does). ``excluded_hashes`` keeps a set of
held-out architectures out of training: a draw of one of them is redrawn, and counted.
"""

import dataclasses
import logging
import os
import time

import numpy as np
import torch

from ghnas.data import TrainBatchStream
from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.data.train_streams import train_stream_from_config
from ghnas.engine.distributed import (
    all_gather_object,
    all_reduce_mean,
    broadcast_module,
    get_rank,
    get_world_size,
    is_main_process,
    synchronize,
)
from ghnas.engine.per_rank_state import PerRankState
from ghnas.engine.progress import Progress
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import ghn_identity
from ghnas.search_spaces import build_search_space
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.trainers.ghn_checkpoints import GHNCheckpoints, ResumePoint
from ghnas.trainers.ghn_loss import mean_loss
from ghnas.trainers.ghn_update import GHNUpdate
from ghnas.utils.errors import GhnasError
from ghnas.utils.rng_state import RNGState

logger = logging.getLogger("ghnas")

# SOLVER.* keys that change what training computes (a resumed run must keep them). MAX_ITER may
# grow: resuming with more iterations continues a finished training.
SOLVER_KEYS = ("BASE_LR", "LR_DECAY_POINTS", "LR_DECAY_FACTOR", "CLIP_GRAD_NORM", "IMS_PER_BATCH")


def check_solver_config(cfg) -> None:
    """Raise :class:`GhnasError` on SOLVER and GHN settings no training can run with."""
    for key in ("MAX_ITER", "CHECKPOINT_PERIOD", "LOG_PERIOD"):
        if cfg.SOLVER[key] < 1:
            raise GhnasError(f"SOLVER.{key} must be >= 1, got {cfg.SOLVER[key]}")
    if cfg.GHN.META_BATCH < 1:
        raise GhnasError(f"GHN.META_BATCH must be >= 1, got {cfg.GHN.META_BATCH}")
    if not 0 <= cfg.GHN.EMA_DECAY < 1:
        raise GhnasError(f"GHN.EMA_DECAY must be in [0, 1) (0: off), got {cfg.GHN.EMA_DECAY}")


class GHNTrainer:
    """Trains ``ghn`` on architectures of ``space`` drawn from ``arch_rng``."""

    def __init__(
        self,
        *,
        ghn,
        space,
        stream: TrainBatchStream,
        arch_rng: np.random.Generator,
        max_iter: int,
        base_lr: float,
        lr_decay_points,
        lr_decay_factor: float,
        clip_grad_norm: float,
        meta_batch: int,
        output_dir: str,
        checkpoint_period: int,
        log_period: int,
        identity: dict,
        amp_dtype: str = "none",
        checkpoint_dir: str = "",
        excluded_hashes=frozenset(),
        phase: str = "ghn",
        fused: bool = True,
        ema_decay: float = 0.0,
    ) -> None:
        self.ghn, self.space, self.stream, self.arch_rng = ghn, space, stream, arch_rng
        self.excluded_hashes, self.excluded_draws, self.phase = frozenset(excluded_hashes), 0, phase
        self.max_iter, self.meta_batch, self.fused = max_iter, meta_batch, fused
        self.log_period, self.amp_dtype, self.output_dir = log_period, amp_dtype, output_dir
        self.update = GHNUpdate(
            ghn,
            base_lr=base_lr,
            lr_decay_points=lr_decay_points,
            lr_decay_factor=lr_decay_factor,
            max_iter=max_iter,
            clip_grad_norm=clip_grad_norm,
            ema_decay=ema_decay,
            phase=phase,
        )
        self.ema = self.update.ema  # the average the scorers load (None without GHN.EMA_DECAY)
        self.world_size = get_world_size()
        # Each rank's own generators; with one process, the checkpoint format is unchanged.
        rng_state = PerRankState(RNGState({"architectures": arch_rng, "batches": stream}))
        self.checkpoints = GHNCheckpoints(
            ghn=ghn,
            optimizer=self.update.optimizer,
            rng_state=rng_state,
            ema=self.ema,
            checkpoint_dir=checkpoint_dir or os.path.join(output_dir, "ghn"),
            checkpoint_period=checkpoint_period,
            max_iter=max_iter,
            identity=identity,
            phase=phase,
        )

    @classmethod
    def from_config(cls, cfg, splits, excluded_hashes=frozenset()) -> "GHNTrainer":
        """Build the space at the training node count, the GHN, the batch stream and Adam;
        architectures whose hash is in ``excluded_hashes`` are never trained on."""
        space = build_search_space(cfg, splits.meta, training=True)
        torch.manual_seed(cfg.SEED)  # GHN initialisation
        return cls.for_generator(
            cfg,
            splits,
            generator=build_ghn(cfg, space),
            space=space,
            # Resuming must continue the same training: same GHN, seed, split, data and recipe.
            identity={
                **ghn_identity(cfg, space),
                "seed": cfg.SEED,
                "split": dataset_fingerprint(cfg),
                "dataset_meta": dataclasses.asdict(splits.meta),
                "ghn_config": cfg.GHN.dump(),
                "solver": {k: cfg.SOLVER[k] for k in SOLVER_KEYS},
            },
            excluded_hashes=excluded_hashes,
            ema_decay=cfg.GHN.EMA_DECAY,
        )

    @classmethod
    def for_generator(
        cls,
        cfg,
        splits,
        *,
        generator,
        space,
        identity: dict,
        arch_stream: int = 1,
        meta_batch: int = 0,
        checkpoint_dir: str = "",
        phase: str = "ghn",
        excluded_hashes=frozenset(),
        ema_decay: float = 0.0,
    ) -> "GHNTrainer":
        """A trainer of any weight generator (a GHN, the one-shot model) with the SOLVER recipe.

        Each rank draws architectures from ``[SEED, arch_stream, rank]`` and reads its own batch
        stream; ``meta_batch`` 0 means ``GHN.META_BATCH``.
        """
        check_solver_config(cfg)
        rank = get_rank()
        return cls(
            ghn=generator,
            space=space,
            stream=train_stream_from_config(cfg, splits, rank=rank, world_size=get_world_size()),
            arch_rng=np.random.default_rng([cfg.SEED, arch_stream, rank]),
            max_iter=cfg.SOLVER.MAX_ITER,
            base_lr=cfg.SOLVER.BASE_LR,
            lr_decay_points=cfg.SOLVER.LR_DECAY_POINTS,
            lr_decay_factor=cfg.SOLVER.LR_DECAY_FACTOR,
            clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
            meta_batch=meta_batch or cfg.GHN.META_BATCH,
            output_dir=cfg.OUTPUT_DIR,
            checkpoint_period=cfg.SOLVER.CHECKPOINT_PERIOD,
            log_period=cfg.SOLVER.LOG_PERIOD,
            identity=identity,
            amp_dtype=cfg.MODEL.AMP_DTYPE,
            checkpoint_dir=checkpoint_dir,
            excluded_hashes=excluded_hashes,
            phase=phase,
            fused=cfg.MODEL.FUSED_NETWORKS,
            ema_decay=ema_decay,
        )

    def check_resume(self):
        """The checkpoint ``--resume`` would continue (None when there is none), after raising
        :class:`GhnasError` if it belongs to another training (reads only)."""
        return self.checkpoints.check_resume()

    def train(self, resume: bool = False):
        """Run (or, with ``resume``, continue) training; returns the trained GHN."""
        start = self.checkpoints.start(resume)
        if start.excluded_draws is not None:
            self.excluded_draws = start.excluded_draws
        if start.iteration >= self.max_iter:
            logger.info(f"{self.phase}: already trained; nothing to do")
            self.checkpoints.ensure_final(start.checkpoint)
            return self.ghn
        self.train_from(start)
        synchronize()  # rank 0's final checkpoint is on disk before any rank reads it
        if self.excluded_hashes:
            total = sum(all_gather_object(self.excluded_draws))
            logger.info(
                f"{self.phase}: {total} draws hit one of the "
                f"{len(self.excluded_hashes)} held-out architectures and were redrawn"
            )
        return self.ghn

    def train_from(self, start: ResumePoint) -> None:
        """The iterations from ``start`` to ``max_iter``: update, log, checkpoint."""
        metrics = os.path.join(self.output_dir, "metrics.jsonl") if is_main_process() else None
        progress = Progress(
            phase=self.phase, total=self.max_iter, done=start.iteration, metrics_path=metrics
        )
        broadcast_module(self.ghn)  # every rank starts from rank 0's GHN, as DDP would
        self.ghn.train()
        started = time.perf_counter()
        for iteration in range(start.iteration, self.max_iter):
            lr = self.update.set_lr(iteration)
            loss = self.step(iteration)
            done = iteration + 1
            if done % self.log_period == 0 or done == self.max_iter:
                archs = (done - start.iteration) * self.meta_batch * self.world_size
                progress.log(done, archs, loss=loss, lr=lr)
            total_seconds = start.train_seconds + time.perf_counter() - started
            self.checkpoints.step(iteration, total_seconds, self.excluded_draws)

    def sample(self):
        """One architecture of the space that is not held out."""
        while True:
            arch = self.space.sample(self.arch_rng)
            if arch.canonical_hash not in self.excluded_hashes:
                return arch
            self.excluded_draws += 1

    def step(self, iteration: int) -> float:
        """One update on ``META_BATCH`` fresh architectures; returns the loss."""
        archs = [self.sample() for _ in range(self.meta_batch)]
        x, y = self.stream.next_batch()
        params = self.ghn.generate(self.space, archs)
        loss = mean_loss(self.space, archs, params, x, y, self.amp_dtype, self.fused)
        # The mean over ranks: every rank sees the same value, so all stop together if it is bad.
        value = float(all_reduce_mean(loss.detach()))
        self.update.apply(loss, value, iteration)
        return value


@TRAINER_REGISTRY.register()
def ghn(cfg, splits, excluded_hashes=frozenset()) -> GHNTrainer:
    """The GHN trainer of section 4.5."""
    return GHNTrainer.from_config(cfg, splits, excluded_hashes)
