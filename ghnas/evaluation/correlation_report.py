"""The correlation benchmark's ``table.md``: the setting, Table 4 and the random-vs-top comparison.

The report is built from ``summary.json``'s content (and the estimators, for their order and
costs), so it says nothing the summary does not hold. The ablations reuse its columns and cell
format for their own tables.
"""

import math
from typing import Any, Dict, List

from tabulate import tabulate

from ghnas.evaluation.correlation_estimators import Estimator
from ghnas.utils.file_io import PathManager

# Statistic -> report column, in the order printed (precision@k columns follow).
CORRELATION_COLUMNS = {
    "pearson": "r",
    "spearman": "ρ",
    "kendall": "τ",
    "top_half_pearson": "r top half",
    "top_half_spearman": "ρ top half",
    "top_half_kendall": "τ top half",
}


def with_interval(value: float, interval) -> str:
    """``0.68 [0.55, 0.77]``: a statistic and its bootstrap interval (``n/a`` if undefined)."""
    if value is None or math.isnan(value):
        return "n/a"
    if interval is None or math.isnan(interval[0]):
        return f"{value:.2f}"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def write_report(
    path: str, cfg, space, summary: Dict[str, Any], estimators: List[Estimator]
) -> str:
    """Write ``table.md`` at ``path``: the setting, Table 4 and the random-vs-top comparison;
    returns its text."""
    lines = [
        *setting_lines(cfg, space, summary),
        "",
        estimator_table(summary["estimators"], estimators),
    ]
    comparison = summary.get("random_vs_top")
    if comparison:
        lines += comparison_lines(comparison)
    text = "\n".join(lines) + "\n"
    with PathManager.open(path, "w") as f:
        f.write(text)
    return text


def estimator_table(rows: Dict[str, Dict[str, Any]], estimators: List[Estimator]) -> str:
    """Table 4: one row per estimator, in ``estimators``' order, with costs and statistics."""
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
    return tabulate(table_rows, headers=headers, tablefmt="github")


def setting_lines(cfg, space, summary: Dict[str, Any]) -> List[str]:
    """The title and the bullet points that say what was measured and how."""
    c, n, truth = cfg.CORRELATION, summary["num_archs"], summary["ground_truth"]
    overlap = summary["held_out_draws_in_ghn_training"]
    return [
        "# Correlation benchmark",
        "",
        f"- {n} held-out architectures of {space.num_nodes} nodes "
        f"({', '.join(f'{k}={v}' for k, v in space.describe().items())}); "
        f"ground truth: test accuracy after {c.EPOCHS} epochs of SGD (cosine from "
        f"{c.BASE_LR}, momentum {c.MOMENTUM}, weight decay {c.WEIGHT_DECAY}, batch "
        f"{c.IMS_PER_BATCH}) on '{cfg.DATASETS.NAME}', mean "
        f"{100 * truth['mean']:.2f}% ± {100 * truth['sd']:.2f}",
        "- held-out architectures drawn while the GHN trained (and redrawn): "
        + ("unknown (GHN from CORRELATION.GHN_CHECKPOINT)" if overlap is None else str(overlap)),
        "- estimators score the validation subset "
        f"({cfg.SEARCH.EVAL_IMAGES} images, batch-statistics BN); intervals are 95% "
        f"percentile bootstraps over {c.BOOTSTRAP_RESAMPLES} resamples; the top half is the "
        f"⌈n/2⌉ highest ground truths (ties by hash); P@k: share of the true top k found",
        "- SGD k steps are snapshots of the ground-truth run at step k (same recipe and data "
        "order); the paper trained them separately",
    ]


def comparison_lines(comparison: Dict[str, Any]) -> List[str]:
    """The random-vs-top section: each group's accuracy and the Mann-Whitney test."""
    table = tabulate(
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
    return [
        "",
        f"## Random vs GHN top ({comparison['candidates']} candidates)",
        "",
        table,
        f"\nMann-Whitney U (top > random): p = {comparison['mann_whitney_p_top_greater']:.3g}",
    ]
