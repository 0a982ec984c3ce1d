"""The "ghn" phase: train a graph hypernetwork on freshly sampled architectures (section 4.5).

Every step samples ``GHN.META_BATCH`` architectures (at ``GHN.TRAIN_NUM_NODES`` nodes), generates
all their weights in one packed graph, runs each network on the same image batch, and
back-propagates the mean training loss into the GHN. Adam, learning rate halved at 50% and 75% of
``SOLVER.MAX_ITER``, gradient clipping. Checkpoints (fvcore Checkpointer) hold the GHN, Adam and
every random generator, so ``--resume`` continues bit for bit.

Under torchrun (N processes) the training is data-parallel: rank ``r`` draws its architectures
from ``default_rng([SEED, 1, r])`` and its images from a stream seeded by :func:`batch_seed`, so
the effective meta-batch is N x ``GHN.META_BATCH``. Rank 0's streams are those of a one-process
run (numpy ignores the trailing 0 of ``[SEED, 1, 0]``), so one process is bit for bit unchanged.
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
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from fvcore.common.checkpoint import PeriodicCheckpointer
from fvcore.common.param_scheduler import ConstantParamScheduler, MultiStepParamScheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ghnas.data import TrainBatchStream
from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.engine.distributed import (
    all_gather_object,
    all_reduce_mean,
    average_gradients,
    broadcast_module,
    get_rank,
    get_world_size,
    is_main_process,
    on_main_process,
    synchronize,
)
from ghnas.engine.per_rank_state import PerRankState
from ghnas.engine.progress import Progress
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import check_identity, ghn_checkpointer, ghn_identity, read_checkpoint
from ghnas.layers.batch_statistics import (
    instantiate_for_generated_weights,
    run_fused_with_generated_weights,
    run_with_generated_weights,
)
from ghnas.search_spaces import build_search_space
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.utils.checkpoint import readable_checkpoint
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager
from ghnas.utils.rng_state import RNGState

logger = logging.getLogger("ghnas")

# SOLVER.* keys that change what training computes (a resumed run must keep them). MAX_ITER may
# grow: resuming with more iterations continues a finished training.
SOLVER_KEYS = ("BASE_LR", "LR_DECAY_POINTS", "LR_DECAY_FACTOR", "CLIP_GRAD_NORM", "IMS_PER_BATCH")


def batch_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s image stream: ``seed`` itself for rank 0 (a one-process run is
    unchanged), a 63-bit seed derived from ``(seed, 3, rank)`` for the others."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, 3, rank]).generate_state(1, np.uint64)[0] >> 1)


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
        self.fused = fused
        # The average the scorers load (GHN.EMA_DECAY), kept beside the trained GHN.
        self.ema = (
            AveragedModel(ghn, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
            if ema_decay > 0
            else None
        )
        self.ghn, self.space, self.stream, self.arch_rng = ghn, space, stream, arch_rng
        self.excluded_hashes, self.excluded_draws, self.phase = frozenset(excluded_hashes), 0, phase
        self.max_iter, self.meta_batch = max_iter, meta_batch
        self.clip_grad_norm, self.log_period, self.amp_dtype = clip_grad_norm, log_period, amp_dtype
        self.output_dir = output_dir
        self.optimizer = torch.optim.Adam(ghn.parameters(), lr=base_lr)
        values = [base_lr * lr_decay_factor**i for i in range(len(lr_decay_points) + 1)]
        milestones = [int(round(p * max_iter)) for p in lr_decay_points]
        bounds = [0] + milestones + [max_iter]
        if max_iter > len(values) and all(a < b for a, b in zip(bounds, bounds[1:])):
            self.lr_schedule = MultiStepParamScheduler(
                values, num_updates=max_iter, milestones=milestones
            )
        else:  # too few iterations to place the decay points (smoke runs)
            logger.info(f"{phase}: {max_iter} iterations are too few for LR decay; constant LR")
            self.lr_schedule = ConstantParamScheduler(base_lr)
        self.world_size = get_world_size()
        # Each rank's own generators; with one process, the checkpoint format is unchanged.
        self.rng_state = PerRankState(RNGState({"architectures": arch_rng, "batches": stream}))
        checkpoint_dir = checkpoint_dir or os.path.join(output_dir, "ghn")
        extra = {"ema": self.ema} if self.ema is not None else {}
        self.checkpointer = ghn_checkpointer(
            ghn, checkpoint_dir, optimizer=self.optimizer, rng=self.rng_state, **extra
        )
        self.periodic = PeriodicCheckpointer(
            self.checkpointer, checkpoint_period, max_iter=max_iter
        )
        self.identity = identity

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
        for key in ("MAX_ITER", "CHECKPOINT_PERIOD", "LOG_PERIOD"):
            if cfg.SOLVER[key] < 1:
                raise GhnasError(f"SOLVER.{key} must be >= 1, got {cfg.SOLVER[key]}")
        if cfg.GHN.META_BATCH < 1:
            raise GhnasError(f"GHN.META_BATCH must be >= 1, got {cfg.GHN.META_BATCH}")
        if not 0 <= cfg.GHN.EMA_DECAY < 1:
            raise GhnasError(f"GHN.EMA_DECAY must be in [0, 1) (0: off), got {cfg.GHN.EMA_DECAY}")
        rank = get_rank()
        stream_cfg = cfg
        if rank > 0:  # this rank reads its own batches: the stream of another seed
            stream_cfg = cfg.clone()
            stream_cfg.defrost()
            stream_cfg.SEED = batch_seed(cfg.SEED, rank)
        return cls(
            ghn=generator,
            space=space,
            stream=TrainBatchStream.from_config(stream_cfg, splits),
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
        if not self.checkpointer.has_checkpoint():
            return None
        path = self.checkpointer.get_checkpoint_file()
        check_identity(read_checkpoint(path), self.identity, path)
        return path

    def train(self, resume: bool = False):
        """Run (or, with ``resume``, continue) training; returns the trained GHN."""
        start_iter, seconds, checkpoint = 0, 0.0, {}
        if is_main_process():
            PathManager.mkdirs(self.checkpointer.save_dir)
        path = self.check_resume() if resume else None
        if path is not None:
            checkpoint = self.checkpointer.resume_or_load(path, resume=True)
            start_iter = checkpoint.get("iteration", -1) + 1
            seconds = float(checkpoint.get("train_seconds", 0.0))
            per_rank = checkpoint.get("excluded_draws_per_rank")
            draws = per_rank[get_rank()] if per_rank else checkpoint.get("excluded_draws", 0)
            self.excluded_draws = int(draws)
            logger.info(f"{self.phase}: resuming from iteration {start_iter}")
        elif not resume:
            # A fresh run must never be "resumed" from an older run's checkpoints later on.
            stale = os.path.join(self.checkpointer.save_dir, "last_checkpoint")
            if is_main_process() and PathManager.exists(stale):
                PathManager.rm(stale)
        if start_iter >= self.max_iter:
            logger.info(f"{self.phase}: already trained; nothing to do")
            self.ensure_final(checkpoint)
            return self.ghn
        metrics = os.path.join(self.output_dir, "metrics.jsonl") if is_main_process() else None
        progress = Progress(
            phase=self.phase, total=self.max_iter, done=start_iter, metrics_path=metrics
        )
        broadcast_module(self.ghn)  # every rank starts from rank 0's GHN, as DDP would
        self.ghn.train()
        started = time.perf_counter()
        for iteration in range(start_iter, self.max_iter):
            lr = self.lr_schedule(iteration / self.max_iter)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.step(iteration)
            done = iteration + 1
            if done % self.log_period == 0 or done == self.max_iter:
                archs = (done - start_iter) * self.meta_batch * self.world_size
                progress.log(done, archs, loss=loss, lr=lr)
            total_seconds = seconds + time.perf_counter() - started
            self.periodic.step(
                iteration, train_seconds=total_seconds, **self.draw_counts(iteration),
                **self.identity,
            )  # fmt: skip
        synchronize()  # rank 0's final checkpoint is on disk before any rank reads it
        if self.excluded_hashes:
            total = sum(all_gather_object(self.excluded_draws))
            logger.info(
                f"{self.phase}: {total} draws hit one of the "
                f"{len(self.excluded_hashes)} held-out architectures and were redrawn"
            )
        return self.ghn

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

    def draw_counts(self, iteration: int) -> dict:
        """The excluded-draw counts the checkpoint of ``iteration`` stores (summed over ranks,
        and each rank's under torchrun); gathers every rank's generators when one is saved."""
        if self.world_size == 1:
            return {"excluded_draws": self.excluded_draws}
        saves = (iteration + 1) % self.periodic.period == 0 or iteration >= self.max_iter - 1
        if not saves:  # no collective on steps without a checkpoint
            return {}
        self.rng_state.gather()
        draws = all_gather_object(self.excluded_draws)
        return {"excluded_draws": sum(draws), "excluded_draws_per_rank": draws}

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
        if not math.isfinite(value):
            raise GhnasError(
                f"{self.phase} training diverged: loss is {value} at iteration {iteration}; lower "
                "SOLVER.BASE_LR or SOLVER.CLIP_GRAD_NORM (no checkpoint was written for it)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.ghn.parameters())  # identical on every rank from here on
        max_norm = self.clip_grad_norm if self.clip_grad_norm > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(self.ghn.parameters(), max_norm))
        if not math.isfinite(norm):
            raise GhnasError(
                f"{self.phase} training diverged: gradient norm is {norm} at iteration {iteration} "
                f"(loss {value:.4g}); lower SOLVER.BASE_LR (no checkpoint was written for it)"
            )
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.ghn)
        return value


def mean_loss(space, archs, params, x, y, amp_dtype: str = "none", fused: bool = True):
    """Mean cross-entropy of the networks of ``archs`` with ``params`` on one batch ``(x, y)``.

    With ``fused``, the space's fused network runs them all in one pass where it has one;
    otherwise each network runs on its own (an early-exit network's loss is the mean over its
    exits).
    """
    network = space.build_fused_network(archs) if fused else None
    if network is not None:
        logits = run_fused_with_generated_weights(network.to(x.device), params, x, amp_dtype)
        # Every network sees the same batch, so this is the mean of the per-network means.
        return F.cross_entropy(logits.float().flatten(0, 1), y.repeat(len(archs)))
    losses = []
    for arch, arch_params in zip(archs, params):
        network = instantiate_for_generated_weights(space, arch, x.device)
        logits = run_with_generated_weights(network, arch_params, x, amp_dtype)
        # An early-exit network returns one output per exit: the loss is their mean.
        outputs = logits if isinstance(logits, (list, tuple)) else [logits]
        losses.append(torch.stack([F.cross_entropy(o.float(), y) for o in outputs]).mean())
    return torch.stack(losses).mean()


@TRAINER_REGISTRY.register()
def ghn(cfg, splits, excluded_hashes=frozenset()) -> GHNTrainer:
    """The GHN trainer of section 4.5."""
    return GHNTrainer.from_config(cfg, splits, excluded_hashes)
