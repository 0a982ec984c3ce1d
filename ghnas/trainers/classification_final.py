"""The "final" phase for classification (appendix 7.3): train the searched block for real.

Two entries of ``TRAINER_REGISTRY`` share one trainer and differ in the LR schedule:

- ``classification`` (CIFAR-10): one cosine period from FINAL.BASE_LR (the paper: 0.025) to 0;
- ``imagenet`` (ImageNet mobile): FINAL.BASE_LR (0.1) x FINAL.LR_GAMMA (0.97) every epoch.

Both: SGD with momentum, weight decay, batch FINAL.IMS_PER_BATCH per process, drop-path rising
linearly to FINAL.DROP_PATH_PROB, an auxiliary head weighted FINAL.AUX_WEIGHT, crop/flip and
FINAL.CUTOUT augmentation (configs/classification_cifar10_final.yaml and
configs/imagenet_mobile_final.yaml hold the paper's values). Under torchrun the network is
data-parallel (DDP) and the peak LR is BASE_LR x the number of processes after a linear warm-up.

The width is FINAL.INIT_CHANNELS (0: the search's MODEL.INIT_CHANNELS), or, when
EXPORT.FLOP_BUDGET > 0, the largest that fits that budget (the fitting export uses).

Top-Best (section 5.1.1), with FINAL.TOP_BEST_K > 1: each of the search's k best blocks is
trained for FINAL.TOP_BEST_EPOCHS in ``final/top_best/<i>_<hash>/`` and scored on the
validation split; the best of them (by validation accuracy, never test) is then trained for
FINAL.EPOCHS. Every run checkpoints each epoch and a finished candidate keeps its score in
``result.json``, so ``--resume`` continues wherever the phase stopped.

At the end: precise BN on training batches, accuracy on the validation split and on the test
split (when the dataset has one), ``final/results.json`` and the weights as the fvcore
checkpoint ``final/model_final.pth`` (``model`` plus hash, channels, arch, space in its extra
data), which ``tools/export_model.py`` reads.
"""

import json
import logging
import os
from typing import Any, Callable, Dict, List, Optional

import torch
from tabulate import tabulate

from ghnas.engine.distributed import get_world_size, is_main_process, synchronize
from ghnas.search_spaces.base import SearchSpace
from ghnas.search_spaces.width_fitting import fit_width_to_budget
from ghnas.trainers.build import TRAINER_REGISTRY
from ghnas.trainers.classification_recipe import ClassificationRecipe
from ghnas.trainers.classification_run import ClassificationRun, dataset_accuracy
from ghnas.trainers.searched import ranked_search_rows, space_at_width
from ghnas.trainers.top_best import pick_best
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, write_atomically
from ghnas.utils.flops import count_flops

logger = logging.getLogger("ghnas")


class ClassificationFinalTrainer:
    """Top-Best selection (optional), final training, evaluation and report."""

    def __init__(
        self,
        *,
        trainer_name: str,
        rows: List[Dict[str, Any]],
        space_at: Callable[[int], SearchSpace],
        width_of: Callable[[Any, str], int],
        recipe: ClassificationRecipe,
        epochs: int,
        top_best_k: int,
        top_best_epochs: int,
        splits,
        device: str,
        seed: int,
        eval_batch_size: int,
        output_dir: str,
    ) -> None:
        """
        Args:
            trainer_name: The registry name ("classification" or "imagenet"), for the report.
            rows: The search's rows, best first.
            space_at: The search space at a given initial width.
            width_of: ``(arch, what) -> width`` the network of ``arch`` is trained at.
            recipe: The SGD recipe; epochs: of the final run.
            top_best_k, top_best_epochs: Top-Best candidates (1: none) and their epochs.
            splits: The dataset's :class:`DatasetSplits`.
            device, seed: Where networks train; the seed of every run's weights and batches.
            eval_batch_size: Images per evaluation batch.
            output_dir: OUTPUT_DIR; everything is written under ``OUTPUT_DIR/final``.
        """
        self.trainer_name, self.rows = trainer_name, rows
        self.space_at, self.width_of = space_at, width_of
        self.recipe, self.epochs = recipe, epochs
        self.top_best_k, self.top_best_epochs = top_best_k, top_best_epochs
        self.splits, self.device, self.seed = splits, device, seed
        self.eval_batch_size = eval_batch_size
        self.output_dir = os.path.join(output_dir, "final")
        self.metrics_path = os.path.join(output_dir, "metrics.jsonl")
        self.candidates: List[Dict[str, Any]] = []

    @classmethod
    def from_config(cls, cfg, splits, *, trainer_name: str, schedule: str):
        """The trainer of FINAL.* for the search results (FINAL.SEARCH_RESULTS or
        OUTPUT_DIR/search/results.jsonl)."""
        recipe = ClassificationRecipe.from_config(
            cfg, schedule=schedule, world_size=get_world_size()
        )
        f = cfg.FINAL
        if f.INIT_CHANNELS < 0:
            raise GhnasError(
                f"FINAL.INIT_CHANNELS must be >= 0 (0: MODEL.INIT_CHANNELS), got {f.INIT_CHANNELS}"
            )
        if f.TOP_BEST_K < 1:
            raise GhnasError(f"FINAL.TOP_BEST_K must be >= 1, got {f.TOP_BEST_K}")
        if f.TOP_BEST_K > 1 and f.TOP_BEST_EPOCHS < 1:
            raise GhnasError(f"FINAL.TOP_BEST_EPOCHS must be >= 1, got {f.TOP_BEST_EPOCHS}")
        space_at = space_at_width(cfg, splits.meta)
        budget = float(cfg.EXPORT.FLOP_BUDGET)
        fixed = f.INIT_CHANNELS or cfg.MODEL.INIT_CHANNELS

        def width_of(arch, what: str) -> int:
            if budget <= 0:
                return fixed
            width, _ = fit_width_to_budget(
                space_at, arch, budget, minimum=cfg.EXPORT.MIN_CHANNELS, what=what
            )
            return width

        return cls(
            trainer_name=trainer_name, rows=ranked_search_rows(cfg), space_at=space_at,
            width_of=width_of, recipe=recipe, epochs=f.EPOCHS, top_best_k=f.TOP_BEST_K,
            top_best_epochs=f.TOP_BEST_EPOCHS, splits=splits, device=cfg.MODEL.DEVICE,
            seed=cfg.SEED, eval_batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, output_dir=cfg.OUTPUT_DIR,
        )  # fmt: skip

    # -- the phase ---------------------------------------------------------------------------

    def train(self, resume: bool = False) -> torch.nn.Module:
        """Select (Top-Best), train the chosen block for FINAL.EPOCHS, evaluate and report."""
        chosen = self.select(resume)
        run = self.run_of(chosen, self.epochs, self.output_dir, phase="final")
        network = run.train(resume)
        run.recalibrate_bn(self.seed)
        self.report(chosen, run, network)
        return network

    def select(self, resume: bool = False) -> Dict[str, Any]:
        """The row to train: the search's best, or Top-Best's winner by validation accuracy.

        Only the training and validation splits are read here.
        """
        if self.top_best_k == 1:
            return self.rows[0]
        rows = self.rows[: self.top_best_k]
        logger.info(
            f"final: Top-Best of the search's {len(rows)} best, {self.top_best_epochs} epochs each"
        )
        self.candidates = [self.candidate(i, row, resume) for i, row in enumerate(rows, start=1)]
        best = pick_best(self.candidates)
        table = tabulate(
            [[c["search_rank"], c["hash"][:12], f"{100 * c['score']:.2f}", c["channels"],
              f"{100 * c['val_accuracy']:.2f}", "yes" if c is best else ""]
             for c in self.candidates],
            headers=["search rank", "hash", "search score (%)", "F",
                     f"val accuracy after {self.top_best_epochs} epochs (%)", "chosen"],
            tablefmt="github",
        )  # fmt: skip
        logger.info(f"final: Top-Best candidates\n{table}")
        return rows[best["search_rank"] - 1]

    def candidate(self, rank: int, row: Dict[str, Any], resume: bool) -> Dict[str, Any]:
        """Train search rank ``rank`` briefly (or read its finished record) and score it."""
        directory = os.path.join(self.output_dir, "top_best", f"{rank}_{row['hash'][:12]}")
        path = os.path.join(directory, "result.json")
        run = self.run_of(row, self.top_best_epochs, directory, phase=f"top-best {rank}")
        if resume and PathManager.exists(path):
            with PathManager.open(path) as f:
                record = json.load(f)
            if all(record.get(k) == v for k, v in run.identity.items()):
                logger.info(f"final: Top-Best candidate {rank} already scored")
                return record
        elif not resume and is_main_process() and PathManager.exists(path):
            PathManager.rm(path)  # an older run's score must not be resumed after a crash
        network = run.train(resume)
        run.recalibrate_bn(self.seed)
        record = {
            **run.identity,
            "search_rank": rank,
            "score": row["score"],
            "val_accuracy": self.accuracy(network, self.splits.val),
        }
        if is_main_process():
            _write_json(path, record)
        return record

    def run_of(self, row, epochs: int, directory: str, phase: str) -> ClassificationRun:
        """A fresh (or resumable) run of ``row``'s block at its width."""
        arch = self.space_at(1).architecture_from_dict(row["arch"])
        width = self.width_of(arch, f"block {row['hash'][:12]}")
        return ClassificationRun.build(
            space=self.space_at(width), arch=arch, recipe=self.recipe, epochs=epochs,
            train_set=self.splits.train, meta=self.splits.meta, device=self.device,
            seed=self.seed, identity={"hash": row["hash"], "channels": width, "epochs": epochs},
            directory=directory, phase=phase, metrics_path=self.metrics_path,
        )  # fmt: skip

    def accuracy(self, network: torch.nn.Module, dataset) -> float:
        """Accuracy of ``network`` (eval mode) on all of ``dataset``."""
        return dataset_accuracy(
            network, dataset, self.splits.meta, batch_size=self.eval_batch_size,
            device=self.device, num_workers=self.recipe.num_workers,
        )  # fmt: skip

    # -- the report --------------------------------------------------------------------------

    def report(self, row: Dict[str, Any], run: ClassificationRun, network: torch.nn.Module) -> None:
        """Evaluate, write ``results.json`` and ``model_final.pth``, log the table."""
        width = run.identity["channels"]
        space = self.space_at(width)
        arch = space.architecture_from_dict(row["arch"])
        deployed = space.build_network(arch)  # without the training-only auxiliary head
        flops = count_flops(deployed, space.input_shape)
        params = sum(p.numel() for p in deployed.parameters())
        val_accuracy = self.accuracy(network, self.splits.val)
        test_accuracy: Optional[float] = None
        if self.splits.test is not None:
            test_accuracy = self.accuracy(network, self.splits.test)
        else:
            logger.warning(
                "final: the dataset has no test split (DATASETS.TEST_SIZE carves one); only the "
                "validation accuracy is reported, on images the search ranked with"
            )
        result = {
            "trainer": self.trainer_name,
            "hash": row["hash"],
            "arch": row["arch"],
            "space": space.name,
            "channels": width,
            "epochs": self.epochs,
            "val_accuracy": val_accuracy,
            "test_accuracy": test_accuracy,
            "test_split": self.splits.test is not None,
            "flops": flops,
            "params": params,
            "search": {"rank": self.rows.index(row) + 1, "score": row["score"]},
            "recipe": {
                "schedule": self.recipe.schedule,
                "peak_lr": self.recipe.peak_lr,
                "warmup_epochs": self.recipe.warmup_for(self.epochs),
                "world_size": self.recipe.world_size,
                "drop_path_prob": self.recipe.drop_path_prob,
                "aux_weight": self.recipe.aux_weight,
                "cutout": self.recipe.cutout,
                "precise_bn_batches": self.recipe.precise_bn_batches,
            },
            "top_best": {"epochs": self.top_best_epochs, "candidates": self.candidates}
            if self.candidates
            else None,
        }
        if is_main_process():
            _write_json(os.path.join(self.output_dir, "results.json"), result)
            save_final_weights(
                os.path.join(self.output_dir, "model_final.pth"), network, hash=row["hash"],
                channels=width, arch=row["arch"], space=space.name, epochs=self.epochs,
            )  # fmt: skip
        synchronize()
        test = "n/a (no test split)" if test_accuracy is None else f"{100 * test_accuracy:.2f}"
        table = tabulate(
            [[row["hash"][:12], width, self.epochs, f"{params / 1e6:.3f}", f"{flops / 1e6:.2f}",
              f"{100 * val_accuracy:.2f}", test]],
            headers=["hash", "F", "epochs", "params (M)", "FLOPs (M)", "val accuracy (%)",
                     "test accuracy (%)"],
            tablefmt="github",
        )  # fmt: skip
        logger.info(f"final: trained network\n{table}")


def save_final_weights(path: str, network: torch.nn.Module, **extra: Any) -> None:
    """The trained weights (precise BN included) as an fvcore checkpoint: ``{"model": state
    dict, **extra}``, the format ``Checkpointer.save`` writes and ``Checkpointer.load`` reads.

    Written directly rather than by ``Checkpointer.save``, which would also point
    ``last_checkpoint`` at it: a later ``--resume`` must find the last epoch's checkpoint, with
    its optimizer and generators, not these weights.
    """
    state = {"model": network.state_dict(), **extra}
    write_atomically(path, None, write=lambda f: torch.save(state, f))


def _write_json(path: str, data: Dict[str, Any]) -> None:
    """Write ``data`` atomically (a crash never leaves a torn file)."""
    write_atomically(path, json.dumps(data, indent=2))


@TRAINER_REGISTRY.register()
def classification(cfg, splits) -> ClassificationFinalTrainer:
    """CIFAR-10 final training (appendix 7.3): one cosine period from FINAL.BASE_LR."""
    return ClassificationFinalTrainer.from_config(
        cfg, splits, trainer_name="classification", schedule="cosine"
    )


@TRAINER_REGISTRY.register()
def imagenet(cfg, splits) -> ClassificationFinalTrainer:
    """ImageNet-mobile final training (appendix 7.3): FINAL.BASE_LR x FINAL.LR_GAMMA per epoch."""
    return ClassificationFinalTrainer.from_config(
        cfg, splits, trainer_name="imagenet", schedule="exponential"
    )


# Single-output networks (checked against the space by tools/train_net.py).
classification.needs_early_exits = False
imagenet.needs_early_exits = False
