"""Ground truth for the correlation benchmark: real SGD training of one architecture, cached.

The recipe is the paper's CIFAR-10 final recipe (appendix 7.3) without drop-path, auxiliary
head and cutout: SGD with momentum, one cosine period from ``base_lr`` to 0 over all steps,
weight decay, batch ``batch_size``, the crop/flip augmentation of the batch stream, for
``epochs`` epochs (the paper's correlation study trains 50). The ground truth is the accuracy
on the held-out test split with the network in eval mode (running BN statistics).

The SGD-k baselines of Table 4 are snapshots of this same run after k updates (the paper
trained them separately): the snapshot is scored like the GHN scores an architecture, on the
validation subset with batch-statistics BN, because after a few steps the running statistics
are still mostly their initial values. A snapshot's cost is the training time up to step k
plus its evaluation.

Every result is cached (``ground_truth_cache.py``) under a key of (architecture hash, the built
network's layout, recipe, dataset fingerprint, seed, space settings, validation subset): a
finished architecture is never trained again, and an interrupted one continues from its last
finished epoch (fvcore checkpoints with the batch stream's state, so the continued run equals
an uninterrupted one). Under torchrun the ranks split the architectures still to train.
"""

import hashlib
import logging
import math
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from fvcore.common.param_scheduler import CosineParamScheduler

from ghnas.data.train_streams import train_stream
from ghnas.engine.distributed import (
    all_gather_object,
    get_world_size,
    is_main_process,
    on_main_process,
    shard,
)
from ghnas.evaluation.ground_truth_cache import GroundTruthCache, network_layout
from ghnas.evaluation.ground_truth_recipe import TrainingRecipe
from ghnas.layers.batch_statistics import batch_statistics
from ghnas.utils.checkpoint import AtomicCheckpointer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager
from ghnas.utils.rng_state import RNGState

logger = logging.getLogger("ghnas")


class GroundTruthTrainer:
    """Measures architectures of ``space`` with :class:`TrainingRecipe`, through the cache."""

    def __init__(
        self,
        *,
        space,
        train_set,
        meta,
        val_batches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
        test_batches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
        recipe: TrainingRecipe,
        augmentation: Dict[str, Any],
        device: str,
        seed: int,
        cache: GroundTruthCache,
        identity: Dict[str, Any],
    ) -> None:
        """
        Args:
            space: The search space whose networks are trained.
            train_set: Training images (the batch stream's dataset); meta: its metadata.
            val_batches: The fixed validation subset the SGD-k snapshots are scored on.
            test_batches: The held-out test split of the ground truth.
            recipe: Epochs, learning rate, momentum, weight decay, batch size, snapshot steps.
            augmentation: ``crop_padding``, ``horizontal_flip`` and ``num_workers`` of the
                batch stream (``train_stream``).
            device: Where networks train.
            seed: Master seed; each architecture's run is seeded from it and its hash.
            cache: Where finished and interrupted runs live.
            identity: Everything else the results depend on (dataset, space settings, ...).
        """
        self.space, self.train_set, self.meta = space, train_set, meta
        self.val_batches, self.test_batches = val_batches, test_batches
        self.recipe, self.augmentation, self.device = recipe, augmentation, device
        self.seed, self.cache, self.identity = seed, cache, identity
        recipe.check_snapshots(len(train_set))

    def key(self, arch) -> str:
        """The cache key of ``arch``'s run."""
        return self.cache.key(
            {
                "arch": arch.canonical_hash,
                "network": network_layout(self.space, arch),
                "recipe": asdict(self.recipe),
                "seed": self.seed,
                **self.identity,
            }
        )

    def cached(self, arch) -> Optional[Dict[str, Any]]:
        """The finished record of ``arch``, if any."""
        return self.cache.load(self.key(arch))

    def measure(self, arch) -> Dict[str, Any]:
        """The record of ``arch``: cached, continued from its checkpoint, or trained now."""
        key = self.key(arch)
        record = self.cache.load(key)
        if record is None:
            record = _Run(self, arch, key).train()
            self.cache.save(key, record)
        return record


class _Run:
    """One architecture's training run, checkpointed after every epoch."""

    def __init__(self, owner: GroundTruthTrainer, arch, key: str) -> None:
        self.owner, self.arch, self.recipe = owner, arch, owner.recipe
        run_seed = int(
            hashlib.sha256(f"{owner.seed}:{arch.canonical_hash}".encode()).hexdigest()[:8], 16
        )
        torch.manual_seed(run_seed)
        self.network = owner.space.build_network(arch).to(owner.device)
        self.stream = train_stream(  # this process's own run: the whole training set
            dataset=owner.train_set,
            meta=owner.meta,
            batch_size=self.recipe.batch_size,
            device=owner.device,
            seed=run_seed,
            **owner.augmentation,
        )
        self.optimizer = torch.optim.SGD(
            self.network.parameters(),
            lr=self.recipe.base_lr,
            momentum=self.recipe.momentum,
            weight_decay=self.recipe.weight_decay,
        )
        self.schedule = CosineParamScheduler(self.recipe.base_lr, 0.0)
        self.steps_per_epoch = self.recipe.steps_per_epoch(len(owner.train_set))
        self.total_steps = self.recipe.epochs * self.steps_per_epoch
        PathManager.mkdirs(owner.cache.run_dir(key))
        self.checkpointer = AtomicCheckpointer(
            self.network,
            owner.cache.run_dir(key),
            optimizer=self.optimizer,
            rng=RNGState({"batches": self.stream}),
        )

    def train(self) -> Dict[str, Any]:
        """Train (continuing a checkpoint when there is one) and measure."""
        start_epoch, seconds, snapshots, loss = 0, 0.0, {}, math.nan
        if self.checkpointer.has_checkpoint():
            state = self.checkpointer.resume_or_load(self.checkpointer.get_checkpoint_file())
            start_epoch, seconds = state["epoch"] + 1, state["train_seconds"]
            snapshots, loss = state["snapshots"], state["loss"]
            logger.info(
                f"ground truth: {self.arch.canonical_hash[:12]} continues at epoch {start_epoch}"
            )
        for epoch in range(start_epoch, self.recipe.epochs):
            started = time.perf_counter()
            loss, epoch_snapshots, eval_seconds = self.train_epoch(epoch, seconds)
            snapshots.update(epoch_snapshots)
            seconds += time.perf_counter() - started - eval_seconds
            self.checkpointer.save(
                "model_last", epoch=epoch, train_seconds=seconds, snapshots=snapshots, loss=loss
            )
        started = time.perf_counter()
        test_accuracy = accuracy(self.network.eval(), self.owner.test_batches)
        return {
            "hash": self.arch.canonical_hash,
            "test_accuracy": test_accuracy,
            "train_seconds": seconds,
            "eval_seconds": time.perf_counter() - started,
            "final_loss": loss,
            "steps": self.total_steps,
            "snapshots": snapshots,
        }

    def train_epoch(self, epoch: int, seconds_before: float) -> Tuple[float, Dict[str, Any], float]:
        """One epoch; returns the mean loss, the snapshots taken and the seconds they took."""
        snapshots, eval_seconds, total = {}, 0.0, 0.0
        started = time.perf_counter()
        for i in range(self.steps_per_epoch):
            step = epoch * self.steps_per_epoch + i
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule(step / self.total_steps)
            self.network.train()
            x, y = self.stream.next_batch()
            loss = F.cross_entropy(self.network(x), y)
            if not torch.isfinite(loss):
                raise GhnasError(
                    f"ground truth: training {self.arch.canonical_hash[:12]} diverged at step "
                    f"{step} (loss {float(loss)}); lower CORRELATION.BASE_LR"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
            if step + 1 in self.owner.recipe.snapshot_steps:
                train_so_far = seconds_before + time.perf_counter() - started - eval_seconds
                evaluated = time.perf_counter()
                with batch_statistics(self.network):
                    val_accuracy = accuracy(self.network, self.owner.val_batches)
                cost = time.perf_counter() - evaluated
                eval_seconds += cost
                snapshots[str(step + 1)] = {
                    "val_accuracy": val_accuracy,
                    "seconds": train_so_far + cost,
                }
        return total / self.steps_per_epoch, snapshots, eval_seconds


@torch.no_grad()
def accuracy(network: torch.nn.Module, batches: Sequence[Tuple[torch.Tensor, torch.Tensor]]):
    """Fraction of correctly classified images over ``batches`` (the network's current mode)."""
    correct = sum(int((network(x).argmax(1) == y).sum()) for x, y in batches)
    return correct / sum(int(y.numel()) for _, y in batches)


def measure_in_order(trainer: GroundTruthTrainer, archs: List[Any], label: str = "ground truth"):
    """Every record of ``archs``, in order, on every rank; what the cache lacks is trained now.

    Under torchrun the missing architectures are dealt out to the ranks (``shard``): each rank
    trains its own, the records are gathered, and rank 0 writes any the cache does not hold
    yet, so the one cache ends complete even when the ranks' folders are not shared. A run's
    result does not depend on the rank that trains it (its seed is the architecture's own).
    """
    cached = on_main_process(lambda: {a.canonical_hash: trainer.cached(a) for a in archs})
    missing = [a for a in archs if cached[a.canonical_hash] is None]
    if missing:
        logger.info(
            f"{label}: {len(archs) - len(missing)} of {len(archs)} cached, training "
            f"{len(missing)}"
            + (f" over {get_world_size()} processes" if get_world_size() > 1 else "")
        )
    measured, error = _train_share(trainer, shard(missing), label)
    gathered = all_gather_object((measured, error))
    for part, _ in gathered:
        cached.update(part)
    if is_main_process():
        for arch in missing:
            record = cached[arch.canonical_hash]
            if record is not None and trainer.cached(arch) is None:  # another rank's folder
                trainer.cache.save(trainer.key(arch), record)
    errors = [e for _, e in gathered if e]
    if errors:  # on every rank, after what did finish is saved: no rank waits for another
        raise GhnasError(errors[0])
    return [cached[a.canonical_hash] for a in archs]


def _train_share(trainer: GroundTruthTrainer, archs: List[Any], label: str):
    """Train this rank's ``archs``; returns the records by hash and the first bad-input error
    (a diverged run, say) that stopped it, or None."""
    measured = {}
    for i, arch in enumerate(archs, 1):
        try:
            record = measured[arch.canonical_hash] = trainer.measure(arch)
        except GhnasError as e:
            return measured, str(e)
        logger.info(
            f"{label} [{i}/{len(archs)}] {arch.canonical_hash[:12]}: test accuracy "
            f"{100 * record['test_accuracy']:.2f}% in {record['train_seconds']:.1f} s"
        )
    return measured, None
