"""The correlation benchmark's inputs: checks of ``CORRELATION.*`` and its ground-truth trainer.

The checks run before anything is built or written, so a bad setting is a one-line error; the
trainer measures every architecture's ground truth on the held-out test split, cached in
``CORRELATION.CACHE_DIR`` (``OUTPUT_DIR/correlation/ground_truth`` by default).
"""

import os

from ghnas.data import evaluation_batches
from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.evaluation.ground_truth import GroundTruthTrainer
from ghnas.evaluation.ground_truth_cache import GroundTruthCache
from ghnas.evaluation.ground_truth_recipe import TrainingRecipe
from ghnas.ghn.checkpoint import read_checkpoint
from ghnas.utils.errors import GhnasError


def check_correlation_config(cfg, splits) -> None:
    """Raise :class:`GhnasError` on ``CORRELATION.*`` settings the benchmark cannot run with, on
    a dataset without a test split and on an unreadable ``CORRELATION.GHN_CHECKPOINT``."""
    c = cfg.CORRELATION
    if c.NUM_ARCHS < 2:
        raise GhnasError(
            f"CORRELATION.NUM_ARCHS={c.NUM_ARCHS}: the architecture set is "
            f"{'empty' if c.NUM_ARCHS < 1 else 'a single architecture'}; correlations need "
            "at least 2"
        )
    if c.TOP_COMPARE < 0 or (
        c.TOP_COMPARE and not c.TOP_COMPARE <= min(c.NUM_ARCHS, c.TOP_CANDIDATES)
    ):
        raise GhnasError(
            f"CORRELATION.TOP_COMPARE={c.TOP_COMPARE} must be 0 or at most NUM_ARCHS "
            f"({c.NUM_ARCHS}) and TOP_CANDIDATES ({c.TOP_CANDIDATES})"
        )
    if c.BOOTSTRAP_RESAMPLES < 1:
        raise GhnasError(
            f"CORRELATION.BOOTSTRAP_RESAMPLES must be >= 1, got {c.BOOTSTRAP_RESAMPLES}"
        )
    if splits.test is None:
        raise GhnasError(
            f"the correlation benchmark measures ground truth on a held-out test split and "
            f"dataset '{cfg.DATASETS.NAME}' has none; carve one with DATASETS.TEST_SIZE"
        )
    if c.GHN_CHECKPOINT:
        read_checkpoint(c.GHN_CHECKPOINT, key="CORRELATION.GHN_CHECKPOINT")


def check_single_output(space) -> None:
    """Raise :class:`GhnasError` if ``space``'s networks have early exits (one score each is
    what the benchmark ranks)."""
    if space.early_exits:
        raise GhnasError(
            f"the correlation benchmark ranks single-output networks; search space "
            f"'{space.name}' has early exits"
        )


def ground_truth_trainer(cfg, splits, space, val_batches) -> GroundTruthTrainer:
    """The trainer of the ground truth: the CORRELATION recipe, scored on the whole test split;
    the cache folder is checked to be writable, and the identity (data, space, scoring subset)
    enters every cached result's key."""
    test_batches = evaluation_batches(
        dataset=splits.test,
        meta=splits.meta,
        num_images=len(splits.test),
        batch_size=cfg.SEARCH.EVAL_BATCH_SIZE,
        seed=cfg.SEED,
        device=cfg.MODEL.DEVICE,
    )
    c = cfg.CORRELATION
    cache_dir = c.CACHE_DIR or os.path.join(cfg.OUTPUT_DIR, "correlation", "ground_truth")
    cache = GroundTruthCache(cache_dir)
    cache.check()
    return GroundTruthTrainer(
        space=space,
        train_set=splits.train,
        meta=splits.meta,
        val_batches=val_batches,
        test_batches=test_batches,
        recipe=TrainingRecipe.from_config(cfg),
        augmentation={
            "crop_padding": cfg.INPUT.CROP_PADDING,
            "horizontal_flip": cfg.INPUT.HORIZONTAL_FLIP,
            "num_workers": cfg.DATALOADER.NUM_WORKERS,
        },
        device=cfg.MODEL.DEVICE,
        seed=cfg.SEED,
        cache=cache,
        identity={
            "dataset": dataset_fingerprint(cfg),
            "space": space.name,
            "space_settings": space.describe(),
            "eval_images": cfg.SEARCH.EVAL_IMAGES,
            "eval_batch_size": cfg.SEARCH.EVAL_BATCH_SIZE,
        },
    )
