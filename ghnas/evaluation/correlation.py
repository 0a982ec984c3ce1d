"""The correlation benchmark: how well cheap estimates rank architectures that real training ranks.

    bench = CorrelationBenchmark.from_config(cfg, splits)
    summary = bench.run(resume=False)

Section 5.3 of the paper, scaled by config. A fixed, seeded set of ``CORRELATION.NUM_ARCHS``
architectures (never drawn while the GHN trains) gets a ground truth from real SGD training
(``ground_truth.py``, cached and resumable) and a score from every estimator of Table 4: the
GHN, the one-shot model, SGD for k steps, parameter count and FLOPs. Each estimator is reported
with its initial and per-architecture cost and with Pearson r, Spearman ρ and Kendall τ-b over
all architectures and over the true top half, and precision@k, each with a bootstrap interval.
The GHN's top n of fresh candidates is compared with n random architectures (Table 1 /
Figure 4). Everything lands in ``OUTPUT_DIR/correlation/``: ``table.md``, ``results.jsonl``,
``summary.json`` and the PNGs.
"""

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from scipy import stats
from tabulate import tabulate

from ghnas.data import evaluation_batches
from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.evaluation.baseline_scorer import BaselineScorer, check_zero_cost_config
from ghnas.evaluation.ground_truth import (
    GroundTruthCache,
    GroundTruthTrainer,
    TrainingRecipe,
    records_in_order,
)
from ghnas.evaluation.one_shot import train_one_shot
from ghnas.evaluation.plots import plot_groups, plot_prediction_scatter
from ghnas.evaluation.ranking_metrics import bootstrap_intervals, ranking_statistics
from ghnas.evaluation.zero_cost import rankable
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import (
    final_checkpoint_path,
    load_ghn_weights,
    read_checkpoint,
)
from ghnas.search.candidates import sample_distinct
from ghnas.search.scoring import ArchitectureScorer, scoring_batches
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.trainers import build_trainer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, append_jsonl_line

logger = logging.getLogger("ghnas")

# Statistic -> report column, in the order printed (precision@k columns follow).
CORRELATION_COLUMNS = {
    "pearson": "r",
    "spearman": "ρ",
    "kendall": "τ",
    "top_half_pearson": "r top half",
    "top_half_spearman": "ρ top half",
    "top_half_kendall": "τ top half",
}

# Independent architecture lists drawn from one SEED (the search's candidates use stream 2).
HELD_OUT_STREAM, CANDIDATE_STREAM, ONE_SHOT_STREAM = 3, 4, 5


@dataclass
class Estimator:
    """One row of Table 4: a score per architecture and what the scores cost."""

    name: str
    scores: List[float]
    initial_seconds: Optional[float]  # None: no initial cost (shown as "-")
    per_arch_seconds: float


class CorrelationBenchmark:
    """Ground truth, estimators, metrics and figures for one config."""

    def __init__(self, *, cfg, splits, space, archs, ground_truth, val_batches) -> None:
        self.cfg, self.splits, self.space, self.archs = cfg, splits, space, archs
        self.ground_truth, self.val_batches = ground_truth, val_batches
        self.output_dir = os.path.join(cfg.OUTPUT_DIR, "correlation")
        self.criterion = build_criterion(cfg)
        self.held_out = frozenset(a.canonical_hash for a in archs)

    @classmethod
    def from_config(cls, cfg, splits) -> "CorrelationBenchmark":
        """Check the settings, draw the held-out set and set up the ground-truth trainer."""
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
        space = build_search_space(cfg, splits.meta)
        if space.early_exits:
            raise GhnasError(
                f"the correlation benchmark ranks single-output networks; search space "
                f"'{space.name}' has early exits"
            )
        archs = sample_distinct(
            space, c.NUM_ARCHS, cfg.SEED, stream=HELD_OUT_STREAM, what="CORRELATION.NUM_ARCHS"
        )
        val_batches = scoring_batches(cfg, splits)
        check_zero_cost_config(cfg, len(splits.val))
        test_batches = evaluation_batches(
            dataset=splits.test,
            meta=splits.meta,
            num_images=len(splits.test),
            batch_size=cfg.SEARCH.EVAL_BATCH_SIZE,
            seed=cfg.SEED,
            device=cfg.MODEL.DEVICE,
        )
        cache_dir = c.CACHE_DIR or os.path.join(cfg.OUTPUT_DIR, "correlation", "ground_truth")
        cache = GroundTruthCache(cache_dir)
        cache.check()
        ground_truth = GroundTruthTrainer(
            space=space,
            train_set=splits.train,
            meta=splits.meta,
            val_batches=val_batches,
            test_batches=test_batches,
            recipe=TrainingRecipe.from_config(cfg),
            augmentation={
                "crop_padding": cfg.INPUT.CROP_PADDING,
                "horizontal_flip": cfg.INPUT.HORIZONTAL_FLIP,
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
        return cls(
            cfg=cfg,
            splits=splits,
            space=space,
            archs=archs,
            ground_truth=ground_truth,
            val_batches=val_batches,
        )

    # -- the run ---------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> Dict[str, Any]:
        """Train what is missing, score, compare; returns the summary written to summary.json."""
        PathManager.mkdirs(self.output_dir)
        PathManager.mkdirs(self.ground_truth.cache.directory)
        c = self.cfg.CORRELATION
        ghn, ghn_seconds, overlap = self.trained_ghn(resume)
        ghn_estimator = self.score_with("GHN", ghn, ghn_seconds)
        surrogates = [ghn_estimator]
        if c.ONE_SHOT:
            one_shot, one_shot_seconds = self.trained_one_shot(resume)
            surrogates.insert(0, self.score_with("one-shot", one_shot, one_shot_seconds))
        static = self.static_estimators()
        records = self.measure_ground_truth(static + surrogates)
        # Table 4's order: SGD k steps, the static measures, one-shot, GHN.
        estimators = self.snapshot_estimators(records) + static + surrogates
        truth = [r["test_accuracy"] for r in records]
        keys = [a.canonical_hash for a in self.archs]
        rows = {e.name: self.metrics(e, truth, keys) for e in estimators}
        summary = {
            "num_archs": len(self.archs),
            "held_out_draws_in_ghn_training": overlap,
            "ground_truth": {"mean": float(np.mean(truth)), "sd": float(np.std(truth, ddof=1))},
            "estimators": rows,
        }
        picture = plot_prediction_scatter(
            os.path.join(self.output_dir, "ghn_vs_truth.png"),
            ghn_estimator.scores,
            truth,
            title=(
                f"GHN vs {c.EPOCHS}-epoch training, n={len(truth)}: "
                f"r={rows['GHN']['pearson']:.2f}, ρ={rows['GHN']['spearman']:.2f}, "
                f"τ={rows['GHN']['kendall']:.2f}"
            ),
            xlabel="accuracy with GHN-generated weights (%)",
        )
        logger.info(f"correlation: drew {picture}")
        comparison = self.compare_top(ghn) if c.TOP_COMPARE else None
        if comparison:
            summary["random_vs_top"] = comparison
        table = self.write_report(summary, estimators)
        with PathManager.open(os.path.join(self.output_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        logger.info(f"correlation: results in {self.output_dir}\n{table}")
        return summary

    # -- estimators ------------------------------------------------------------------------------

    def trained_ghn(self, resume: bool):
        """The GHN to evaluate, its training seconds and the held-out draws it skipped."""
        path = self.cfg.CORRELATION.GHN_CHECKPOINT
        if not path:
            trainer = build_trainer(
                self.cfg, self.splits, "GHN.TRAINER", excluded_hashes=self.held_out
            )
            trainer.train(resume=resume)
            path = final_checkpoint_path(self.cfg.OUTPUT_DIR)
        torch.manual_seed(self.cfg.SEED)
        ghn = build_ghn(self.cfg, self.space)
        data = load_ghn_weights(ghn, path, self.cfg, self.space)
        overlap = data.get("excluded_draws") if not self.cfg.CORRELATION.GHN_CHECKPOINT else None
        return ghn.to(self.cfg.MODEL.DEVICE), data.get("train_seconds"), overlap

    def trained_one_shot(self, resume: bool):
        """The one-shot model, trained like the GHN but at the evaluated node count, one
        architecture per step (ENAS)."""
        return train_one_shot(
            self.cfg, self.splits, self.space, arch_stream=ONE_SHOT_STREAM, meta_batch=1,
            excluded_hashes=self.held_out, resume=resume,
        )  # fmt: skip

    def score_with(self, name: str, generator, initial_seconds) -> Estimator:
        """Accuracy on the validation subset with weights from ``generator`` (a GHN or one-shot)."""
        scorer = ArchitectureScorer(
            ghn=generator,
            space=self.space,
            criterion=self.criterion,
            batches=self.val_batches,
            arch_batch=self.cfg.SEARCH.ARCH_BATCH,
            fused=self.cfg.MODEL.FUSED_NETWORKS,
        )
        started = time.perf_counter()
        scores = scorer.score(self.archs)
        per_arch = (time.perf_counter() - started) / len(self.archs)
        logger.info(
            f"correlation: {name} scored {len(self.archs)} architectures, {per_arch:.3f} s each"
        )
        return Estimator(name, scores, initial_seconds, per_arch)

    def static_estimators(self) -> List[Estimator]:
        """The training-free baselines: parameter count, FLOPs and ZERO_COST.ESTIMATORS (each
        on the architecture's own seeded network and one mini-batch of the validation split)."""
        scorer = BaselineScorer.from_config(self.cfg, self.space, self.splits.val, self.splits.meta)
        values = {name: [] for name in scorer.estimator_names}
        seconds = {name: 0.0 for name in scorer.estimator_names}
        for arch in self.archs:
            found, spent = scorer.score(arch)
            for name in values:
                values[name].append(found[name])
                seconds[name] += spent[name]
        n = len(self.archs)
        return [Estimator(name, rankable(values[name]), None, seconds[name] / n) for name in values]

    def snapshot_estimators(self, records) -> List[Estimator]:
        """SGD for k steps: snapshots of the ground-truth runs."""
        return [
            Estimator(
                f"SGD {k} steps",
                [r["snapshots"][str(k)]["val_accuracy"] for r in records],
                None,
                float(np.mean([r["snapshots"][str(k)]["seconds"] for r in records])),
            )
            for k in self.ground_truth.recipe.snapshot_steps
        ]

    def measure_ground_truth(self, estimators: List[Estimator]) -> List[Dict[str, Any]]:
        """Ground truth of every architecture (cached), each row written as it comes."""
        path = os.path.join(self.output_dir, "results.jsonl")
        if PathManager.exists(path):
            PathManager.rm(path)  # rebuilt from the cache: rows for this config only
        records = []
        for i, (arch, record) in enumerate(records_in_order(self.ground_truth, self.archs)):
            records.append(record)
            append_jsonl_line(
                path,
                {
                    "hash": arch.canonical_hash,
                    "arch": arch.to_dict(),
                    "ground_truth": record["test_accuracy"],
                    "scores": {e.name: e.scores[i] for e in estimators}
                    | {f"SGD {k} steps": s["val_accuracy"] for k, s in record["snapshots"].items()},
                },
            )
        return records

    # -- metrics and reports ---------------------------------------------------------------------

    def metrics(self, estimator: Estimator, truth, keys) -> Dict[str, Any]:
        """Point values and bootstrap intervals of every ranking statistic."""
        n = len(truth)
        ks = sorted({max(1, round(0.1 * n)), *([10] if n >= 10 else [])})

        def statistics(x, y, k):
            return ranking_statistics(x, y, k, ks)

        values = statistics(np.asarray(estimator.scores, float), np.asarray(truth, float), keys)
        intervals = bootstrap_intervals(
            statistics,
            estimator.scores,
            truth,
            keys,
            resamples=self.cfg.CORRELATION.BOOTSTRAP_RESAMPLES,
            seed=self.cfg.SEED,
        )
        return {
            **values,
            "intervals": intervals,
            "initial_seconds": estimator.initial_seconds,
            "per_arch_seconds": estimator.per_arch_seconds,
        }

    def compare_top(self, ghn) -> Dict[str, Any]:
        """Random n vs the GHN's top n of fresh candidates, all trained with the same recipe."""
        c = self.cfg.CORRELATION
        n = c.TOP_COMPARE
        candidates = sample_distinct(
            self.space,
            c.TOP_CANDIDATES,
            self.cfg.SEED,
            stream=CANDIDATE_STREAM,
            what="CORRELATION.TOP_CANDIDATES",
        )
        scorer = ArchitectureScorer(
            ghn=ghn,
            space=self.space,
            criterion=self.criterion,
            batches=self.val_batches,
            arch_batch=self.cfg.SEARCH.ARCH_BATCH,
            fused=self.cfg.MODEL.FUSED_NETWORKS,
        )
        scores = scorer.score(candidates)
        order = sorted(
            range(len(candidates)), key=lambda i: (-scores[i], candidates[i].canonical_hash)
        )
        top = [candidates[i] for i in order[:n]]
        logger.info(f"correlation: training the GHN's top {n} of {len(candidates)} candidates")
        members = {f"random {n}": self.archs[:n], f"GHN top {n}": top}
        groups = {
            name: [r["test_accuracy"] for _, r in records_in_order(self.ground_truth, archs, name)]
            for name, archs in members.items()
        }
        random_acc, top_acc = groups.values()
        test = stats.mannwhitneyu(top_acc, random_acc, alternative="greater")
        picture = plot_groups(
            os.path.join(self.output_dir, "random_vs_top.png"),
            groups,
            title=f"Random {n} vs GHN top {n} of {len(candidates)} ({c.EPOCHS} epochs)",
            ylabel="test accuracy (%)",
        )
        logger.info(f"correlation: drew {picture}")
        return {
            "candidates": len(candidates),
            "groups": {
                name: {
                    "mean": float(np.mean(v)),
                    "sd": _sd(v),
                    "values": v,
                    "hashes": [a.canonical_hash for a in members[name]],
                }
                for name, v in groups.items()
            },
            "mann_whitney_p_top_greater": float(test.pvalue),
        }

    def write_report(self, summary: Dict[str, Any], estimators: List[Estimator]) -> str:
        """``table.md``: the setting, Table 4 and the random-vs-top comparison."""
        c, n, truth = self.cfg.CORRELATION, summary["num_archs"], summary["ground_truth"]
        rows = summary["estimators"]
        ks = [k.split("_")[-1] for k in rows["GHN"] if k.startswith("precision_at_")]
        columns = [*CORRELATION_COLUMNS, *(f"precision_at_{k}" for k in ks)]
        headers = ["estimator", "initial (s)", "per arch (s)", *CORRELATION_COLUMNS.values()]
        headers += [f"P@{k}" for k in ks]
        table_rows = []
        for e in estimators:
            row = rows[e.name]
            initial = "-" if e.initial_seconds is None else f"{e.initial_seconds:.1f}"
            cells = [with_interval(row[col], row["intervals"].get(col)) for col in columns]
            table_rows.append([e.name, initial, f"{e.per_arch_seconds:.3g}", *cells])
        table = tabulate(table_rows, headers=headers, tablefmt="github")
        overlap = summary["held_out_draws_in_ghn_training"]
        lines = [
            "# Correlation benchmark",
            "",
            f"- {n} held-out architectures of {self.space.num_nodes} nodes "
            f"({', '.join(f'{k}={v}' for k, v in self.space.describe().items())}); "
            f"ground truth: test accuracy after {c.EPOCHS} epochs of SGD (cosine from "
            f"{c.BASE_LR}, momentum {c.MOMENTUM}, weight decay {c.WEIGHT_DECAY}, batch "
            f"{c.IMS_PER_BATCH}) on '{self.cfg.DATASETS.NAME}', mean "
            f"{100 * truth['mean']:.2f}% ± {100 * truth['sd']:.2f}",
            "- held-out architectures drawn while the GHN trained (and redrawn): "
            + (
                "unknown (GHN from CORRELATION.GHN_CHECKPOINT)" if overlap is None else str(overlap)
            ),
            "- estimators score the validation subset "
            f"({self.cfg.SEARCH.EVAL_IMAGES} images, batch-statistics BN); intervals are 95% "
            f"percentile bootstraps over {c.BOOTSTRAP_RESAMPLES} resamples; the top half is the "
            f"⌈n/2⌉ highest ground truths (ties by hash); P@k: share of the true top k found",
            "- SGD k steps are snapshots of the ground-truth run at step k (same recipe and data "
            "order); the paper trained them separately",
            "",
            table,
        ]
        comparison = summary.get("random_vs_top")
        if comparison:
            lines += ["", f"## Random vs GHN top ({comparison['candidates']} candidates)", ""]
            lines.append(
                tabulate(
                    [
                        [
                            name,
                            f"{100 * g['mean']:.2f} ± {100 * g['sd']:.2f}",
                            f"{100 * max(g['values']):.2f}",
                        ]
                        for name, g in comparison["groups"].items()
                    ],
                    headers=["architectures", "test accuracy (%)", "best (%)"],
                    tablefmt="github",
                )
            )
            lines.append(
                "\nMann-Whitney U (top > random): "
                f"p = {comparison['mann_whitney_p_top_greater']:.3g}"
            )
        text = "\n".join(lines) + "\n"
        with PathManager.open(os.path.join(self.output_dir, "table.md"), "w") as f:
            f.write(text)
        return text


def with_interval(value: float, interval) -> str:
    """``0.68 [0.55, 0.77]``: a statistic and its bootstrap interval (``n/a`` if undefined)."""
    if value is None or math.isnan(value):
        return "n/a"
    if interval is None or math.isnan(interval[0]):
        return f"{value:.2f}"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _sd(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
