"""The "ghn" phase: train a graph hypernetwork on freshly sampled architectures (section 4.5).

Every step samples ``GHN.META_BATCH`` architectures (at ``GHN.TRAIN_NUM_NODES`` nodes), generates
all their weights in one packed graph, runs each network on the same image batch, and
back-propagates the mean training loss into the GHN. Adam, learning rate halved at 50% and 75% of
``SOLVER.MAX_ITER``, gradient clipping. Checkpoints (fvcore Checkpointer) hold the GHN, Adam and
every random generator, so ``--resume`` continues bit for bit.

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

from ghnas.data import TrainBatchStream
from ghnas.engine.progress import Progress
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import check_identity, ghn_checkpointer, ghn_identity, read_checkpoint
from ghnas.layers.batch_statistics import (
    instantiate_for_generated_weights,
    run_with_generated_weights,
)
from ghnas.search_spaces import build_search_space
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager
from ghnas.utils.rng_state import RNGState

logger = logging.getLogger("ghnas")


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
    ) -> None:
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
        self.rng_state = RNGState({"architectures": arch_rng, "batches": stream})
        checkpoint_dir = checkpoint_dir or os.path.join(output_dir, "ghn")
        PathManager.mkdirs(checkpoint_dir)
        self.checkpointer = ghn_checkpointer(
            ghn, checkpoint_dir, optimizer=self.optimizer, rng=self.rng_state
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
        for key in ("MAX_ITER", "CHECKPOINT_PERIOD", "LOG_PERIOD"):
            if cfg.SOLVER[key] < 1:
                raise GhnasError(f"SOLVER.{key} must be >= 1, got {cfg.SOLVER[key]}")
        if cfg.GHN.META_BATCH < 1:
            raise GhnasError(f"GHN.META_BATCH must be >= 1, got {cfg.GHN.META_BATCH}")
        return cls(
            ghn=build_ghn(cfg, space),
            space=space,
            stream=TrainBatchStream.from_config(cfg, splits),
            arch_rng=np.random.default_rng([cfg.SEED, 1]),
            max_iter=cfg.SOLVER.MAX_ITER,
            base_lr=cfg.SOLVER.BASE_LR,
            lr_decay_points=cfg.SOLVER.LR_DECAY_POINTS,
            lr_decay_factor=cfg.SOLVER.LR_DECAY_FACTOR,
            clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
            meta_batch=cfg.GHN.META_BATCH,
            output_dir=cfg.OUTPUT_DIR,
            checkpoint_period=cfg.SOLVER.CHECKPOINT_PERIOD,
            log_period=cfg.SOLVER.LOG_PERIOD,
            # Resuming must continue the same training: same GHN, dataset and GHN settings.
            identity={
                **ghn_identity(cfg, space),
                "dataset_meta": dataclasses.asdict(splits.meta),
                "ghn_config": cfg.GHN.dump(),
            },
            amp_dtype=cfg.MODEL.AMP_DTYPE,
            excluded_hashes=excluded_hashes,
        )

    def train(self, resume: bool = False):
        """Run (or, with ``resume``, continue) training; returns the trained GHN."""
        start_iter, seconds = 0, 0.0
        if resume and self.checkpointer.has_checkpoint():
            path = self.checkpointer.get_checkpoint_file()
            check_identity(read_checkpoint(path), self.identity, path)
            checkpoint = self.checkpointer.resume_or_load(path, resume=True)
            start_iter = checkpoint.get("iteration", -1) + 1
            seconds = float(checkpoint.get("train_seconds", 0.0))
            self.excluded_draws = int(checkpoint.get("excluded_draws", 0))
            logger.info(f"{self.phase}: resuming from iteration {start_iter}")
        elif not resume:
            # A fresh run must never be "resumed" from an older run's checkpoints later on.
            stale = os.path.join(self.checkpointer.save_dir, "last_checkpoint")
            if PathManager.exists(stale):
                PathManager.rm(stale)
        if start_iter >= self.max_iter:
            logger.info(f"{self.phase}: already trained; nothing to do")
            return self.ghn
        metrics = os.path.join(self.output_dir, "metrics.jsonl")
        progress = Progress(
            phase=self.phase, total=self.max_iter, done=start_iter, metrics_path=metrics
        )
        self.ghn.train()
        started = time.perf_counter()
        for iteration in range(start_iter, self.max_iter):
            lr = self.lr_schedule(iteration / self.max_iter)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.step(iteration)
            done = iteration + 1
            if done % self.log_period == 0 or done == self.max_iter:
                archs = (done - start_iter) * self.meta_batch
                progress.log(done, archs, loss=loss, lr=lr)
            total_seconds = seconds + time.perf_counter() - started
            self.periodic.step(
                iteration, train_seconds=total_seconds, excluded_draws=self.excluded_draws,
                **self.identity,
            )  # fmt: skip
        if self.excluded_hashes:
            logger.info(
                f"{self.phase}: {self.excluded_draws} draws hit one of the "
                f"{len(self.excluded_hashes)} held-out architectures and were redrawn"
            )
        return self.ghn

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
        losses = []
        for arch, arch_params in zip(archs, params):
            network = instantiate_for_generated_weights(self.space, arch, x.device)
            logits = run_with_generated_weights(network, arch_params, x, self.amp_dtype)
            # An early-exit network returns one output per exit: the loss is their mean.
            outputs = logits if isinstance(logits, (list, tuple)) else [logits]
            losses.append(torch.stack([F.cross_entropy(o.float(), y) for o in outputs]).mean())
        loss = torch.stack(losses).mean()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise GhnasError(
                f"{self.phase} training diverged: loss is {value} at iteration {iteration}; lower "
                "SOLVER.BASE_LR or SOLVER.CLIP_GRAD_NORM (no checkpoint was written for it)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.clip_grad_norm if self.clip_grad_norm > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(self.ghn.parameters(), max_norm))
        if not math.isfinite(norm):
            raise GhnasError(
                f"{self.phase} training diverged: gradient norm is {norm} at iteration {iteration} "
                f"(loss {value:.4g}); lower SOLVER.BASE_LR (no checkpoint was written for it)"
            )
        self.optimizer.step()
        return value


@TRAINER_REGISTRY.register()
def ghn(cfg, splits, excluded_hashes=frozenset()) -> GHNTrainer:
    """The GHN trainer of section 4.5."""
    return GHNTrainer.from_config(cfg, splits, excluded_hashes)
