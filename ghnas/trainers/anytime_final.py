"""The "final" phase for anytime networks (appendix 7.3, "Anytime"): train the best one for real.

Takes the best architecture of ``search/results.jsonl``, widens it to the largest C whose FLOPs
fit ``ANYTIME.FLOP_BUDGET`` (the fitting function export uses too), and trains it from scratch:
SGD with momentum 0.9, learning rate 0.1 divided by 10 at 50% and 75% of the epochs, batch 64,
the loss averaged over the exits. Each epoch ends with an fvcore checkpoint, so ``--resume``
continues; every epoch's loss and learning rate go to ``metrics.jsonl`` and TensorBoard (see
:mod:`ghnas.engine.progress`). It reports every exit's accuracy and cumulative FLOPs on the test
split (the validation split when the dataset has none) and draws the real curve beside the
predicted one.

Under torchrun the network is data-parallel (DDP), as in the classification trainer: each rank
reads FINAL.IMS_PER_BATCH images a step from its own stream (``train_streams.py``), an epoch is the
training set once over all ranks (so N ranks take 1/N of the steps), the peak LR is BASE_LR x N
after FINAL.WARMUP_EPOCHS of linear warm-up (-1: 5 with several processes), rank 0 writes the
checkpoints (holding every rank's stream) and the report, and the evaluation batches are split
between the ranks.
"""

import json
import logging
import math
import os

import torch
import torch.nn.functional as F
from tabulate import tabulate

from ghnas.data import evaluation_batches
from ghnas.data.train_streams import train_stream
from ghnas.engine.distributed import (
    all_gather_object,
    all_reduce_mean,
    broadcast_module,
    data_parallel,
    get_rank,
    get_world_size,
    is_main_process,
    synchronize,
)
from ghnas.engine.per_rank_state import PerRankState
from ghnas.engine.progress import Progress
from ghnas.search_spaces.width_fitting import largest_fitting_width
from ghnas.selection import area_under_anytime_curve
from ghnas.selection.anytime_auc import exit_hits, records_from_hits
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.trainers.epoch_checkpointer import EpochCheckpointer
from ghnas.trainers.lr_schedules import (
    epoch_lr,
    resolve_warmup_epochs,
    step_decay_schedule,
    with_warmup,
)
from ghnas.trainers.searched import ranked_search_rows, space_at_width
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import write_atomically
from ghnas.utils.rng_state import RNGState
from ghnas.utils.visualization import plot_accuracy_vs_flops

logger = logging.getLogger("ghnas")


class AnytimeFinalTrainer:
    """Trains ``network`` (an anytime network) and evaluates every exit."""

    def __init__(self, *, network, row, stream, eval_batches, epochs, iters_per_epoch, optimizer,
                 lr_schedule, budget, output_dir, channels, eval_split) -> None:  # fmt: skip
        self.network, self.row, self.stream, self.eval_batches = network, row, stream, eval_batches
        self.epochs, self.iters_per_epoch = epochs, iters_per_epoch
        self.optimizer, self.lr_schedule, self.budget = optimizer, lr_schedule, budget
        self.output_dir, self.channels = os.path.join(output_dir, "final"), channels
        self.metrics_path = os.path.join(output_dir, "metrics.jsonl") if is_main_process() else None
        self.eval_split = eval_split
        self.model = data_parallel(network)  # the network itself with one process
        self.rng_state = PerRankState(RNGState({"batches": stream}))
        self.checkpointer = EpochCheckpointer(
            network, self.output_dir, identity={"hash": row["hash"], "channels": channels},
            save_to_disk=is_main_process(), optimizer=optimizer, rng=self.rng_state,
        )  # fmt: skip

    @classmethod
    def from_config(cls, cfg, splits) -> "AnytimeFinalTrainer":
        """Best searched architecture, fitted to the budget, with its SGD recipe."""
        row = ranked_search_rows(cfg)[0]
        space_at = space_at_width(cfg, splits.meta)
        arch = space_at(cfg.MODEL.INIT_CHANNELS).architecture_from_dict(row["arch"])
        budget = cfg.ANYTIME.FLOP_BUDGET
        channels = largest_fitting_width(
            lambda c: space_at(c).analytic_flops(arch), budget,
            minimum=cfg.FINAL.MIN_CHANNELS, what=f"architecture {row['hash'][:12]}",
        )  # fmt: skip
        torch.manual_seed(cfg.SEED)
        network = space_at(channels).build_network(arch).to(cfg.MODEL.DEVICE)
        stream = train_stream(
            dataset=splits.train, meta=splits.meta, batch_size=cfg.FINAL.IMS_PER_BATCH,
            device=cfg.MODEL.DEVICE, crop_padding=cfg.INPUT.CROP_PADDING,
            horizontal_flip=cfg.INPUT.HORIZONTAL_FLIP, seed=cfg.SEED,
            num_workers=cfg.DATALOADER.NUM_WORKERS, rank=get_rank(), world_size=get_world_size(),
        )  # fmt: skip
        eval_split = "test" if splits.test is not None else "val"
        evaluation = splits.test if splits.test is not None else splits.val
        batches = evaluation_batches(
            dataset=evaluation, meta=splits.meta, num_images=len(evaluation),
            batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, seed=cfg.SEED, device=cfg.MODEL.DEVICE,
        )  # fmt: skip
        optimizer = torch.optim.SGD(
            network.parameters(), lr=cfg.FINAL.BASE_LR, momentum=cfg.FINAL.MOMENTUM,
            weight_decay=cfg.FINAL.WEIGHT_DECAY,
        )  # fmt: skip
        epochs, world = cfg.FINAL.EPOCHS, get_world_size()
        return cls(
            network=network, row=row, stream=stream, eval_batches=batches, epochs=epochs,
            iters_per_epoch=math.ceil(len(splits.train) / (cfg.FINAL.IMS_PER_BATCH * world)),
            optimizer=optimizer,
            lr_schedule=anytime_lr_schedule(cfg, world),
            budget=budget, output_dir=cfg.OUTPUT_DIR, channels=channels, eval_split=eval_split,
        )  # fmt: skip

    def train(self, resume: bool = False):
        """Train (or continue) for the configured epochs, then evaluate and report."""
        start = self.checkpointer.start_epoch(resume)
        logger.info(
            f"final: architecture {self.row['hash'][:12]} at C={self.channels}, "
            f"{self.epochs} epochs of {self.iters_per_epoch} iterations"
        )
        progress = Progress(
            phase="final", total=self.epochs, done=start, metrics_path=self.metrics_path
        )
        for epoch in range(start, self.epochs):
            lr = epoch_lr(self.lr_schedule, epoch, self.epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.train_epoch()
            progress.log(epoch + 1, loss=loss, lr=lr)
            self.rng_state.gather()  # a collective (nothing with one process), before the save
            self.checkpointer.save(epoch)
        # DDP keeps each rank's own running BN statistics; evaluate rank 0's, the saved ones.
        broadcast_module(self.network)
        self.report()
        synchronize()  # rank 0's report is written before anyone goes on
        return self.network

    def train_epoch(self) -> float:
        """One epoch of SGD on the loss averaged over exits; returns the mean loss."""
        self.model.train()
        total = 0.0
        for _ in range(self.iters_per_epoch):
            x, y = self.stream.next_batch()
            logits = self.model(x)
            loss = torch.stack([F.cross_entropy(out, y) for out in logits]).mean()
            value = float(all_reduce_mean(loss.detach()))  # same on every rank: all stop together
            if not math.isfinite(value):
                raise GhnasError(
                    "final training diverged (loss is not finite); lower FINAL.BASE_LR"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += value
        return total / self.iters_per_epoch

    def evaluate_exits(self):
        """Every exit's record over the evaluation batches, each rank scoring every N-th batch
        and the hits summed; the same list on every rank."""
        self.network.eval()
        mine = self.eval_batches[get_rank() :: get_world_size()]
        shares = all_gather_object(exit_hits(self.network, mine))
        correct = [sum(hits) for hits in zip(*(c for c, _ in shares if c))]
        return records_from_hits(self.network, correct, sum(n for _, n in shares))

    def report(self) -> None:
        """Write ``final/results.json`` and ``final/curves.png`` (rank 0); log the per-exit
        table."""
        exits = self.evaluate_exits()
        if not is_main_process():
            return
        flops, accuracy = [e["flops"] for e in exits], [e["acc"] for e in exits]
        if self.eval_split == "val":
            logger.warning(
                "final: the dataset has no test split; accuracies are on the validation images "
                "the search ranked on, so they are optimistic"
            )
        result = {
            "hash": self.row["hash"],
            "channels": self.channels,
            "eval_split": self.eval_split,
            "auc": area_under_anytime_curve(flops, accuracy, self.budget),
            "flop_budget": self.budget,
            "exits": exits,
            "predicted": {"auc": self.row["score"], "exits": self.row.get("exits")},
        }
        write_atomically(
            os.path.join(self.output_dir, "results.json"), json.dumps(result, indent=2)
        )
        curves = [{"label": f"trained, C={self.channels}", "flops": flops, "accuracy": accuracy,
                   "style": "--"}]  # fmt: skip
        if self.row.get("exits"):
            predicted = self.row["exits"]
            curves.insert(0, {"label": "predicted by the GHN (search width)",
                              "flops": [e["flops"] for e in predicted],
                              "accuracy": [e["acc"] for e in predicted], "style": "-"})  # fmt: skip
        plot_accuracy_vs_flops(
            os.path.join(self.output_dir, "curves.png"), curves, budget=self.budget,
            title=f"Anytime curve of {self.row['hash'][:12]}",
        )  # fmt: skip
        table = tabulate(
            [[e["node"], f"{e['flops'] / 1e6:.2f}", f"{100 * e['acc']:.2f}"] for e in exits],
            headers=["exit node", "cumulative MFLOPs", "accuracy (%)"], tablefmt="github",
        )  # fmt: skip
        logger.info(f"final: AUC {result['auc']:.4f} (predicted {self.row['score']:.4f})\n{table}")


def anytime_lr_schedule(cfg, world_size: int):
    """The anytime recipe's step decay from ``FINAL.BASE_LR x world_size`` (linear scaling: each
    process reads its own batch), after the warm-up FINAL.WARMUP_EPOCHS asks for."""
    epochs = cfg.FINAL.EPOCHS
    if epochs < 1:
        raise GhnasError(f"FINAL.EPOCHS must be >= 1, got {epochs}")
    warmup = min(resolve_warmup_epochs(cfg.FINAL.WARMUP_EPOCHS, world_size), epochs - 1)
    if warmup < 0:
        raise GhnasError(f"FINAL.WARMUP_EPOCHS must be >= 0, or -1 for the paper's, got {warmup}")
    peak = cfg.FINAL.BASE_LR * world_size
    main = step_decay_schedule(
        peak, cfg.FINAL.LR_DECAY_FACTOR, cfg.FINAL.LR_DECAY_POINTS, epochs - warmup
    )
    return with_warmup(main, peak_lr=peak, epochs=epochs, warmup_epochs=warmup)


@TRAINER_REGISTRY.register()
def anytime_final(cfg, splits) -> AnytimeFinalTrainer:
    """Final training of the best anytime architecture (appendix 7.3)."""
    return AnytimeFinalTrainer.from_config(cfg, splits)


anytime_final.needs_early_exits = True  # checked against the space before any phase runs
