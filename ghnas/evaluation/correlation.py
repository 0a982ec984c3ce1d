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

This module runs the benchmark; its inputs are checked and built in ``correlation_setup.py``, the
estimators and their statistics are ``correlation_estimators.py``, ``table.md`` is
``correlation_report.py``.
"""

import json
import logging
import os
from typing import Any, Dict, List

import numpy as np
import torch
from scipy import stats

from ghnas.engine.distributed import is_main_process
from ghnas.evaluation.baseline_scorer import check_zero_cost_config
from ghnas.evaluation.correlation_estimators import (
    Estimator,
    estimator_metrics,
    snapshot_estimators,
    static_estimators,
    timed_scores,
)
from ghnas.evaluation.correlation_report import write_report
from ghnas.evaluation.correlation_setup import (
    check_correlation_config,
    check_single_output,
    ground_truth_trainer,
)
from ghnas.evaluation.ground_truth import measure_in_order
from ghnas.evaluation.one_shot import train_one_shot
from ghnas.evaluation.plots import plot_groups, plot_prediction_scatter
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights
from ghnas.search.candidates import sample_distinct
from ghnas.search.scoring import ArchitectureScorer, scoring_batches
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.trainers import build_trainer
from ghnas.utils.file_io import PathManager, write_atomically

logger = logging.getLogger("ghnas")

# Independent architecture lists drawn from one SEED (the search's candidates use stream 2).
HELD_OUT_STREAM, CANDIDATE_STREAM, ONE_SHOT_STREAM = 3, 4, 5


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
        check_correlation_config(cfg, splits)
        space = build_search_space(cfg, splits.meta)
        check_single_output(space)
        archs = sample_distinct(
            space, cfg.CORRELATION.NUM_ARCHS, cfg.SEED, stream=HELD_OUT_STREAM,
            what="CORRELATION.NUM_ARCHS",
        )  # fmt: skip
        val_batches = scoring_batches(cfg, splits)
        check_zero_cost_config(cfg, len(splits.val))
        return cls(
            cfg=cfg,
            splits=splits,
            space=space,
            archs=archs,
            ground_truth=ground_truth_trainer(cfg, splits, space, val_batches),
            val_batches=val_batches,
        )

    # -- the run ---------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> Dict[str, Any]:
        """Train what is missing, score, compare; returns the summary written to summary.json."""
        PathManager.mkdirs(self.output_dir)
        PathManager.mkdirs(self.ground_truth.cache.directory)
        ghn, ghn_seconds, overlap = self.trained_ghn(resume)
        ghn_estimator = self.score_with("GHN", ghn, ghn_seconds)
        surrogates = [ghn_estimator]
        if self.cfg.CORRELATION.ONE_SHOT:
            one_shot, one_shot_seconds = self.trained_one_shot(resume)
            surrogates.insert(0, self.score_with("one-shot", one_shot, one_shot_seconds))
        static = static_estimators(self.cfg, self.space, self.splits, self.archs)
        records = self.measure_ground_truth(static + surrogates)
        # Table 4's order: SGD k steps, the static measures, one-shot, GHN.
        snapshots = snapshot_estimators(records, self.ground_truth.recipe.snapshot_steps)
        estimators = snapshots + static + surrogates
        truth = [r["test_accuracy"] for r in records]
        summary = self.summarise(estimators, truth, overlap)
        if self.cfg.CORRELATION.TOP_COMPARE:
            if is_main_process():  # Table 4 now: the top comparison trains for a long while more
                self.write_outputs(summary, estimators, ghn_estimator, truth)
            summary["random_vs_top"] = self.compare_top(ghn)
        if is_main_process():  # every rank holds the same summary; one writes it
            self.write_outputs(summary, estimators, ghn_estimator, truth)
        return summary

    def write_outputs(self, summary, estimators, ghn_estimator, truth) -> None:
        """``table.md``, ``summary.json`` and a figure: the GHN against the ground truth, or,
        once the top comparison is in (the second write), random against the GHN's top."""
        if "random_vs_top" in summary:
            self.plot_top(summary["random_vs_top"])
        else:
            self.plot_ghn_vs_truth(ghn_estimator, truth, summary["estimators"]["GHN"])
        table = write_report(
            os.path.join(self.output_dir, "table.md"), self.cfg, self.space, summary, estimators
        )
        write_atomically(
            os.path.join(self.output_dir, "summary.json"), json.dumps(summary, indent=2)
        )
        logger.info(f"correlation: results in {self.output_dir}\n{table}")

    def summarise(self, estimators: List[Estimator], truth, overlap) -> Dict[str, Any]:
        """The summary's statistics: the ground truth's spread and every estimator's row."""
        keys = [a.canonical_hash for a in self.archs]
        c = self.cfg.CORRELATION
        rows = {
            e.name: estimator_metrics(
                e, truth, keys, resamples=c.BOOTSTRAP_RESAMPLES, seed=self.cfg.SEED
            )
            for e in estimators
        }
        return {
            "num_archs": len(self.archs),
            "held_out_draws_in_ghn_training": overlap,
            "ground_truth": {"mean": float(np.mean(truth)), "sd": float(np.std(truth, ddof=1))},
            "estimators": rows,
        }

    def plot_ghn_vs_truth(self, ghn_estimator: Estimator, truth, row: Dict[str, Any]) -> None:
        """``ghn_vs_truth.png``: the GHN's score of every architecture against its ground truth."""
        picture = plot_prediction_scatter(
            os.path.join(self.output_dir, "ghn_vs_truth.png"),
            ghn_estimator.scores,
            truth,
            title=(
                f"GHN vs {self.cfg.CORRELATION.EPOCHS}-epoch training, n={len(truth)}: "
                f"r={row['pearson']:.2f}, ρ={row['spearman']:.2f}, "
                f"τ={row['kendall']:.2f}"
            ),
            xlabel="accuracy with GHN-generated weights (%)",
        )
        logger.info(f"correlation: drew {picture}")

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

    def scorer(self, generator) -> ArchitectureScorer:
        """The search's scorer on the validation subset, with weights from ``generator``."""
        return ArchitectureScorer(
            ghn=generator,
            space=self.space,
            criterion=self.criterion,
            batches=self.val_batches,
            arch_batch=self.cfg.SEARCH.ARCH_BATCH,
            fused=self.cfg.MODEL.FUSED_NETWORKS,
        )

    def score_with(self, name: str, generator, initial_seconds) -> Estimator:
        """Accuracy on the validation subset with weights from ``generator`` (a GHN or one-shot)."""
        return timed_scores(name, self.scorer(generator), self.archs, initial_seconds)

    def measure_ground_truth(self, estimators: List[Estimator]) -> List[Dict[str, Any]]:
        """Ground truth of every architecture (cached; under torchrun the missing ones split
        between the ranks), then ``results.jsonl``, rebuilt from them: rows for this config."""
        records = measure_in_order(self.ground_truth, self.archs)
        rows = [
            {
                "hash": arch.canonical_hash,
                "arch": arch.to_dict(),
                "ground_truth": record["test_accuracy"],
                "scores": {e.name: e.scores[i] for e in estimators}
                | {f"SGD {k} steps": s["val_accuracy"] for k, s in record["snapshots"].items()},
            }
            for i, (arch, record) in enumerate(zip(self.archs, records))
        ]
        if is_main_process():
            text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
            write_atomically(os.path.join(self.output_dir, "results.jsonl"), text)
        return records

    # -- random vs top ---------------------------------------------------------------------------

    def compare_top(self, ghn) -> Dict[str, Any]:
        """Random n vs the GHN's top n of fresh candidates, all trained with the same recipe."""
        c = self.cfg.CORRELATION
        n = c.TOP_COMPARE
        candidates, top = self.ghn_top(ghn, n)
        logger.info(f"correlation: training the GHN's top {n} of {len(candidates)} candidates")
        members = {f"random {n}": self.archs[:n], f"GHN top {n}": top}
        groups = {
            name: [r["test_accuracy"] for r in measure_in_order(self.ground_truth, archs, name)]
            for name, archs in members.items()
        }
        random_acc, top_acc = groups.values()
        test = stats.mannwhitneyu(top_acc, random_acc, alternative="greater")
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

    def plot_top(self, comparison: Dict[str, Any]) -> None:
        """``random_vs_top.png``: the two groups' ground truth side by side."""
        groups = {name: group["values"] for name, group in comparison["groups"].items()}
        n = self.cfg.CORRELATION.TOP_COMPARE
        picture = plot_groups(
            os.path.join(self.output_dir, "random_vs_top.png"),
            groups,
            title=f"Random {n} vs GHN top {n} of {comparison['candidates']} "
            f"({self.cfg.CORRELATION.EPOCHS} epochs)",
            ylabel="test accuracy (%)",
        )
        logger.info(f"correlation: drew {picture}")

    def ghn_top(self, ghn, n: int):
        """The fresh candidates (CORRELATION.TOP_CANDIDATES of them) and the GHN's top ``n``
        (ties by hash)."""
        candidates = sample_distinct(
            self.space,
            self.cfg.CORRELATION.TOP_CANDIDATES,
            self.cfg.SEED,
            stream=CANDIDATE_STREAM,
            what="CORRELATION.TOP_CANDIDATES",
        )
        scores = self.scorer(ghn).score_shared(candidates)
        order = sorted(
            range(len(candidates)), key=lambda i: (-scores[i], candidates[i].canonical_hash)
        )
        return candidates, [candidates[i] for i in order[:n]]


def _sd(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
