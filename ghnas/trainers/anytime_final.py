"""The "final" phase for anytime networks (appendix 7.3, "Anytime"): train the best one for real.

Takes the best architecture of ``search/results.jsonl``, widens it to the largest C whose FLOPs
fit ``ANYTIME.FLOP_BUDGET`` (the fitting function export uses too), and trains it from scratch:
SGD with momentum 0.9, learning rate 0.1 divided by 10 at 50% and 75% of the epochs, batch 64,
the loss averaged over the exits. Each epoch ends with an fvcore checkpoint, so ``--resume``
continues; every epoch's loss and learning rate go to ``metrics.jsonl`` and TensorBoard (see
:mod:`ghnas.engine.progress`). It reports every exit's accuracy and cumulative FLOPs on the test
split (the validation split when the dataset has none) and draws the real curve beside the
predicted one.
"""

import json
import logging
import math
import os

import torch
import torch.nn.functional as F
from tabulate import tabulate

from ghnas.data import TrainBatchStream, evaluation_batches
from ghnas.engine.distributed import get_world_size
from ghnas.engine.progress import Progress
from ghnas.search_spaces.width_fitting import largest_fitting_width
from ghnas.selection import area_under_anytime_curve
from ghnas.selection.anytime_auc import exit_records
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.trainers.epoch_checkpointer import EpochCheckpointer
from ghnas.trainers.lr_schedules import epoch_lr, step_decay_schedule
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
        self.metrics_path = os.path.join(output_dir, "metrics.jsonl")
        self.eval_split = eval_split
        self.checkpointer = EpochCheckpointer(
            network, self.output_dir, identity={"hash": row["hash"], "channels": channels},
            optimizer=optimizer, rng=RNGState({"batches": stream}),
        )  # fmt: skip

    @classmethod
    def from_config(cls, cfg, splits) -> "AnytimeFinalTrainer":
        """Best searched architecture, fitted to the budget, with its SGD recipe."""
        check_single_process()
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
        stream = TrainBatchStream(
            dataset=splits.train, meta=splits.meta, batch_size=cfg.FINAL.IMS_PER_BATCH,
            device=cfg.MODEL.DEVICE, crop_padding=cfg.INPUT.CROP_PADDING,
            horizontal_flip=cfg.INPUT.HORIZONTAL_FLIP, seed=cfg.SEED,
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
        epochs = cfg.FINAL.EPOCHS
        if epochs < 1:
            raise GhnasError(f"FINAL.EPOCHS must be >= 1, got {epochs}")
        lr_schedule = step_decay_schedule(
            cfg.FINAL.BASE_LR, cfg.FINAL.LR_DECAY_FACTOR, cfg.FINAL.LR_DECAY_POINTS, epochs
        )
        return cls(
            network=network, row=row, stream=stream, eval_batches=batches, epochs=epochs,
            iters_per_epoch=math.ceil(len(splits.train) / cfg.FINAL.IMS_PER_BATCH),
            optimizer=optimizer,
            lr_schedule=lr_schedule,
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
            self.checkpointer.save(epoch)
        self.report()
        return self.network

    def train_epoch(self) -> float:
        """One epoch of SGD on the loss averaged over exits; returns the mean loss."""
        self.network.train()
        total = 0.0
        for _ in range(self.iters_per_epoch):
            x, y = self.stream.next_batch()
            logits = self.network(x)
            loss = torch.stack([F.cross_entropy(out, y) for out in logits]).mean()
            if not torch.isfinite(loss):
                raise GhnasError(
                    "final training diverged (loss is not finite); lower FINAL.BASE_LR"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
        return total / self.iters_per_epoch

    def report(self) -> None:
        """Write ``final/results.json`` and ``final/curves.png``; log the per-exit table."""
        self.network.eval()
        exits = exit_records(self.network, self.network, self.eval_batches)
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


def check_single_process() -> None:
    """The anytime final trainer is not data-parallel: under torchrun every rank would train the
    same network in full and write the same checkpoints, so it refuses in one line instead."""
    if get_world_size() > 1:
        raise GhnasError(
            f"FINAL.TRAINER anytime_final trains on one process and this run has "
            f"{get_world_size()} (torchrun); run the final phase without torchrun"
        )


@TRAINER_REGISTRY.register()
def anytime_final(cfg, splits) -> AnytimeFinalTrainer:
    """Final training of the best anytime architecture (appendix 7.3)."""
    return AnytimeFinalTrainer.from_config(cfg, splits)


anytime_final.needs_early_exits = True  # checked against the space before any phase runs
