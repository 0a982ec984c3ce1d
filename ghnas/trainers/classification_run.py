"""One classification network trained with a :class:`ClassificationRecipe`, resumably.

A run owns the network, its SGD optimizer, its batch stream and an :class:`EpochCheckpointer`
in its own directory: each epoch sets the learning rate and the drop-path probability of that
epoch, trains ``iters_per_epoch`` steps on ``loss + aux_weight * aux_loss`` and saves
``model_last.pth`` with the optimizer and every random generator, so ``--resume`` continues
bit for bit (on CPU). Under torchrun the network is wrapped in ``DistributedDataParallel``,
each rank reads its own stream (``ghnas/data/train_streams.py``) and rank 0 writes checkpoints
holding every rank's generators (:class:`PerRankState`).
"""

import inspect
import logging
import math
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ghnas.data import TensorImageDataset
from ghnas.data.batches import gather_images, normalize_images
from ghnas.data.metadata import DatasetMetadata
from ghnas.data.train_streams import train_stream
from ghnas.engine.distributed import (
    all_gather_object,
    all_reduce_mean,
    data_parallel,
    get_rank,
    get_world_size,
    is_main_process,
    synchronize,
)
from ghnas.engine.per_rank_state import PerRankState
from ghnas.engine.progress import Progress
from ghnas.trainers.classification_recipe import ClassificationRecipe
from ghnas.trainers.epoch_checkpointer import EpochCheckpointer
from ghnas.trainers.lr_schedules import epoch_lr
from ghnas.utils.errors import GhnasError
from ghnas.utils.fvcore_nn import update_bn_stats
from ghnas.utils.rng_state import RNGState

logger = logging.getLogger("ghnas")


def build_final_network(space, arch, recipe: ClassificationRecipe) -> nn.Module:
    """``space``'s network of ``arch`` with the recipe's auxiliary head and drop-path.

    Raises:
        GhnasError: The recipe asks for a head or drop-path the space's networks lack.
    """
    if recipe.aux_weight > 0:
        if "auxiliary" not in inspect.signature(space.build_network).parameters:
            raise GhnasError(
                f"FINAL.AUX_WEIGHT: networks of space '{space.name}' have no auxiliary head; "
                "set FINAL.AUX_WEIGHT 0"
            )
        network = space.build_network(arch, auxiliary=True)
    else:
        network = space.build_network(arch)
    if recipe.drop_path_prob > 0 and not hasattr(network, "drop_path_prob"):
        raise GhnasError(
            f"FINAL.DROP_PATH_PROB: networks of space '{space.name}' have no drop-path; set "
            "FINAL.DROP_PATH_PROB 0"
        )
    return network


class ClassificationRun:
    """Trains ``network`` for ``epochs`` with ``recipe``, checkpointing into ``directory``."""

    def __init__(
        self,
        *,
        network: nn.Module,
        stream,
        recipe: ClassificationRecipe,
        epochs: int,
        iters_per_epoch: int,
        identity: Dict[str, Any],
        directory: str,
        phase: str = "final",
        metrics_path: Optional[str] = None,
    ) -> None:
        """
        Args:
            network: The bare network (not wrapped); it is trained in place.
            stream: This rank's training batches (``train_stream``).
            recipe: The SGD recipe; epochs: the run's length; iters_per_epoch: steps per epoch.
            identity: What the checkpoints must match to be resumed (hash, width, epochs).
            directory: Where ``model_last.pth`` and ``last_checkpoint`` live.
            phase: The name progress lines and messages carry.
            metrics_path: ``metrics.jsonl`` to append progress records to (rank 0), or None.
        """
        self.network, self.stream, self.recipe = network, stream, recipe
        self.epochs, self.iters_per_epoch, self.phase = epochs, iters_per_epoch, phase
        self.identity, self.directory = identity, directory
        self.metrics_path = metrics_path if is_main_process() else None
        self.world_size = get_world_size()
        self.model = data_parallel(network)
        self.optimizer = torch.optim.SGD(
            network.parameters(), lr=recipe.peak_lr, momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )  # fmt: skip
        self.lr_schedule = recipe.lr_schedule(epochs)
        self.rng_state = PerRankState(RNGState({"batches": stream}))
        self.checkpointer = EpochCheckpointer(
            network, directory, identity=identity, save_to_disk=is_main_process(),
            optimizer=self.optimizer, rng=self.rng_state,
        )  # fmt: skip

    @classmethod
    def build(
        cls,
        *,
        space,
        arch,
        recipe: ClassificationRecipe,
        epochs: int,
        train_set,
        meta: DatasetMetadata,
        device: str,
        seed: int,
        identity: Dict[str, Any],
        directory: str,
        phase: str = "final",
        metrics_path: Optional[str] = None,
    ) -> "ClassificationRun":
        """A run of ``arch`` in ``space`` (at the space's width) initialised from ``seed``."""
        torch.manual_seed(seed)
        network = build_final_network(space, arch, recipe).to(device)
        stream = train_stream(
            dataset=train_set, meta=meta, batch_size=recipe.batch_size, device=device,
            crop_padding=recipe.crop_padding, horizontal_flip=recipe.horizontal_flip,
            seed=seed, cutout=recipe.cutout, num_workers=recipe.num_workers, rank=get_rank(),
            world_size=get_world_size(),
        )  # fmt: skip
        # An epoch is as many images as the training set, summed over processes. In memory,
        # each rank draws from its own seeded permutation (not a shard), so within an epoch some
        # images are seen twice and some not at all; an image folder's epochs are dealt out.
        iters = math.ceil(len(train_set) / (recipe.batch_size * get_world_size()))
        return cls(
            network=network, stream=stream, recipe=recipe, epochs=epochs, iters_per_epoch=iters,
            identity=identity, directory=directory, phase=phase, metrics_path=metrics_path,
        )  # fmt: skip

    def train(self, resume: bool = False) -> nn.Module:
        """Train (or continue) up to ``epochs``; returns the bare network in training mode."""
        start = self.checkpointer.start_epoch(resume, self.phase)
        progress = Progress(
            phase=self.phase, total=self.epochs, done=start, metrics_path=self.metrics_path
        )
        for epoch in range(start, self.epochs):
            lr = epoch_lr(self.lr_schedule, epoch, self.epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            drop_path = self.recipe.drop_path(epoch, self.epochs)
            if hasattr(self.network, "drop_path_prob"):
                self.network.drop_path_prob = drop_path
            loss = self.train_epoch()
            progress.log(epoch + 1, loss=loss, lr=lr, drop_path=drop_path)
            if self.world_size > 1:
                self.rng_state.gather()  # a collective: every rank, before rank 0 saves
            self.checkpointer.save(epoch)
        synchronize()  # rank 0's last checkpoint is written before anyone goes on
        return self.network

    def train_epoch(self) -> float:
        """One epoch of SGD; returns the mean loss (over steps and processes)."""
        self.model.train()
        total = 0.0
        for _ in range(self.iters_per_epoch):
            x, y = self.stream.next_batch()
            output = self.model(x)
            logits, aux = output if isinstance(output, tuple) else (output, None)
            loss = F.cross_entropy(logits, y)
            if aux is not None:
                loss = loss + self.recipe.aux_weight * F.cross_entropy(aux, y)
            value = float(all_reduce_mean(loss.detach()))  # same on every rank: all stop together
            if not math.isfinite(value):
                raise GhnasError(
                    f"{self.phase} training diverged (loss {value}); lower FINAL.BASE_LR"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += value
        return total / self.iters_per_epoch

    def recalibrate_bn(self, seed: int) -> None:
        """Precise BN: the BN statistics over ``precise_bn_batches`` augmented training batches
        (a fresh stream from ``seed``) with the weights fixed and drop-path off. Every rank reads
        the same batches, so every rank ends with the statistics rank 0 saves and reports."""
        batches = self.recipe.precise_bn_batches
        if batches == 0:
            return
        stream = train_stream(
            dataset=self.stream.dataset, meta=self.stream.meta, batch_size=self.stream.batch_size,
            device=self.stream.device, crop_padding=self.recipe.crop_padding,
            horizontal_flip=self.recipe.horizontal_flip, seed=seed, cutout=self.recipe.cutout,
            num_workers=self.recipe.num_workers,
        )  # fmt: skip
        if hasattr(self.network, "drop_path_prob"):
            self.network.drop_path_prob = 0.0
        self.network.train()
        update_bn_stats(self.network, (stream.next_batch()[0] for _ in range(batches)), batches)


@torch.no_grad()
def dataset_accuracy(
    network: nn.Module,
    dataset,
    meta: DatasetMetadata,
    *,
    batch_size: int,
    device: str,
    num_workers: int = 0,
) -> float:
    """Top-1 accuracy (a fraction) of ``network`` in eval mode over all of ``dataset``.

    The dataset is read in order, ``batch_size`` images at a time (never all at once, so an
    ImageNet-sized split fits; files are decoded by ``num_workers`` DataLoader workers); under
    torchrun each rank scores every N-th batch and the counts are summed, so every rank returns
    the same number.
    """
    network.eval()
    correct = total = 0
    for x, y in _batches(dataset, meta, batch_size, torch.device(device), num_workers):
        correct += int((network(x).argmax(1) == y).sum())
        total += int(y.numel())
    counts = all_gather_object((correct, total))
    return sum(c for c, _ in counts) / sum(t for _, t in counts)


def _batches(
    dataset, meta: DatasetMetadata, batch_size: int, device: torch.device, num_workers: int
) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """This rank's share of ``dataset`` in order, normalised, ``batch_size`` images a batch."""
    mean = torch.tensor(meta.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    starts = range(get_rank() * batch_size, len(dataset), get_world_size() * batch_size)
    if isinstance(dataset, TensorImageDataset):
        for start in starts:
            indices = torch.arange(start, min(start + batch_size, len(dataset)))
            images, labels = gather_images(dataset, indices, device)
            yield normalize_images(images, mean, std), labels
        return
    order = [i for start in starts for i in range(start, min(start + batch_size, len(dataset)))]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=num_workers,
                        pin_memory=device.type == "cuda")  # fmt: skip
    for images, labels in loader:  # the same batches: every one but the last is full
        images = images.to(device, non_blocking=True)
        yield normalize_images(images, mean, std), labels.to(device, dtype=torch.int64)
