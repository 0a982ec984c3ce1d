"""PNG figures of the correlation benchmark: Figure 6 (scatter), Figure 4 (box plot), Figure 5.

Drawn with matplotlib's object API on an Agg canvas, like ``ghnas.utils.visualization``.
"""

import math
from typing import Dict, Sequence

import numpy as np
from matplotlib.figure import Figure

from ghnas.utils.visualization import save_png

__all__ = ["plot_prediction_scatter", "plot_groups", "plot_sweep"]


def plot_prediction_scatter(
    path: str, predicted: Sequence[float], truth: Sequence[float], *, title: str, xlabel: str
) -> str:
    """True accuracy (%) against a predicted accuracy (%), with the least-squares line."""
    x, y = 100 * np.asarray(predicted, float), 100 * np.asarray(truth, float)
    fig = Figure(figsize=(5.5, 4.5))
    try:
        ax = fig.add_subplot()
        ax.scatter(x, y, s=22, alpha=0.8, edgecolor="#333", linewidth=0.5)
        if len(x) > 1 and np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            line_x = np.linspace(x.min(), x.max(), 2)
            ax.plot(
                line_x,
                slope * line_x + intercept,
                color="#e0443e",
                linewidth=1.4,
                label=f"fit: {slope:.2f}x {'+' if intercept >= 0 else '−'} {abs(intercept):.1f}",
            )
            ax.legend(loc="best")
        ax.set(xlabel=xlabel, ylabel="ground-truth test accuracy (%)", title=title)
        ax.grid(True, alpha=0.35)
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        fig.clear()


def plot_groups(path: str, groups: Dict[str, Sequence[float]], *, title: str, ylabel: str) -> str:
    """A box plot per group with every value drawn over it (fractions shown as percent)."""
    fig = Figure(figsize=(5, 4.5))
    try:
        ax = fig.add_subplot()
        data = [100 * np.asarray(v, float) for v in groups.values()]
        ax.boxplot(
            data, tick_labels=list(groups), widths=0.5, showfliers=False
        )  # points drawn below
        for i, values in enumerate(data, 1):
            jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else [0.0]
            ax.plot(i + np.asarray(jitter), values, "o", markersize=4, alpha=0.7)
        ax.set(ylabel=ylabel, title=title)
        ax.grid(True, axis="y", alpha=0.35)
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        fig.clear()


def plot_sweep(
    path: str,
    x_values: Sequence,
    panels: Dict[str, Dict[str, Sequence[float]]],
    *,
    xlabel: str,
    title: str,
) -> str:
    """One panel per entry of ``panels`` (panel title -> series label -> y per x value)."""
    fig = Figure(figsize=(5 * len(panels), 4.3))
    try:
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x_values)
        positions = list(x_values) if numeric else list(range(len(x_values)))
        handles = {}
        for i, (panel, series) in enumerate(panels.items(), 1):
            ax = fig.add_subplot(1, len(panels), i)
            for j, (label, ys) in enumerate(series.items()):
                points = [(p, y) for p, y in zip(positions, ys) if not math.isnan(y)]
                if points:
                    style = dict(color=f"C{j}", linewidth=1.5, markersize=5)
                    (line,) = ax.plot(*zip(*points), "o-", **style)
                    handles.setdefault(label, line)
            ax.set_xticks(positions, [str(v) for v in x_values])
            ax.set(xlabel=xlabel, ylabel="correlation", title=panel)
            ax.axhline(0, color="#999", linewidth=0.8)
            ax.grid(True, alpha=0.35)
        legend = bool(handles) and list(handles) != [""]
        if legend:  # one legend under the panels, out of the data's way
            fig.legend(
                handles.values(),
                handles.keys(),
                loc="lower center",
                ncol=min(len(handles), 3),
                frameon=False,
            )
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0.08 if legend else 0, 1, 1))
        return save_png(fig, path)
    finally:
        fig.clear()
