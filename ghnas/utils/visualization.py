"""Plots for reports: architecture DAGs and anytime accuracy-vs-FLOPs curves, as PNG files.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no graphviz), so using this module
never changes the caller's matplotlib backend or global state, and it works headless."""

import os
from collections import defaultdict
from itertools import accumulate
from typing import Collection, Dict, List, Optional, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

__all__ = ["dag_levels", "dag_layout", "draw_dag", "plot_accuracy_vs_flops", "save_png"]

_DPI = 120
_SWEEPS = 4  # barycentre sweeps; crossings stop improving after a few on graphs of this size
_X_INCH, _Y_INCH = 1.5, 0.9  # inches per node slot within a level, and per level
_WAYPOINT_W = 0.3  # slot width, in node slots, of an edge passing through a level
_BOX_W, _BOX_H = 0.84, 0.5  # box size in slot units (1 slot = 1 data unit on each axis)
_NODE_COLOR, _EXIT_COLOR = "#dbe6f1", "#e0443e"
_BOX = dict(boxstyle="round,pad=0,rounding_size=0.08", edgecolor="#333", linewidth=0.8, zorder=2)
_ARROW = dict(arrowstyle="-|>", color="#444", lw=0.9, mutation_scale=10, shrinkA=1, shrinkB=1)


def dag_levels(edges: Sequence[Tuple[int, int]], num_nodes: int) -> List[int]:
    """Level of each node: the length of the longest path reaching it from a source (level 0).

    Raises ``ValueError`` when an edge is out of range or the graph has a cycle.
    """
    for a, b in edges:
        if not (0 <= a < num_nodes and 0 <= b < num_nodes) or a == b:
            raise ValueError(f"bad edge ({a}, {b}) for a graph of {num_nodes} nodes")
    levels = [0] * num_nodes
    # Relax every edge until nothing moves (Bellman-Ford on longest paths): a longest path has
    # fewer than num_nodes edges, so a graph still changing after num_nodes rounds has a cycle.
    for _ in range(num_nodes + 1):
        changed = False
        for a, b in edges:
            if levels[b] <= levels[a]:
                levels[b], changed = levels[a] + 1, True
        if not changed:
            return levels
    raise ValueError("the graph has a cycle")


def _layout(
    edges: Sequence[Tuple[int, int]], num_nodes: int, levels: Optional[Sequence[int]]
) -> Tuple[Dict[int, Tuple[float, float]], List[List[int]]]:
    """Positions of nodes and waypoints, and each edge's waypoints: an edge skipping levels gets
    a narrow virtual node per level crossed (Sugiyama's method), so it avoids the boxes there."""
    longest = dag_levels(edges, num_nodes)  # also rejects bad edges and cycles
    levels = longest if levels is None else list(levels)
    if len(levels) != num_nodes or any(levels[b] <= levels[a] for a, b in edges):
        raise ValueError(f"levels {levels} must put each edge's child at a higher level")
    level, width = list(levels), [1.0] * num_nodes  # per node, then per waypoint
    parents: Dict[int, List[int]] = defaultdict(list)
    children: Dict[int, List[int]] = defaultdict(list)
    chains = []
    for a, b in edges:
        chains.append(list(range(len(level), len(level) + levels[b] - levels[a] - 1)))
        level += range(levels[a] + 1, levels[b])
        width += [_WAYPOINT_W] * len(chains[-1])
        route = [a, *chains[-1], b]
        for u, v in zip(route, route[1:]):
            parents[v].append(u)
            children[u].append(v)
    rows = {lev: [v for v in range(len(level)) if level[v] == lev] for lev in set(level)}
    pos: Dict[int, float] = {}

    def place(row: List[int]) -> None:
        x = -sum(width[v] for v in row) / 2  # centre each level on 0
        for v in row:
            pos[v], x = x + width[v] / 2, x + width[v]

    def key(v: int, near: List[int]) -> float:
        # The barycentre of a node's neighbours; a node without any keeps its place.
        return sum(pos[m] for m in near) / len(near) if near else pos[v]

    def reorder(lev: int, neighbours: Dict[int, List[int]]) -> None:
        # sorted() is stable, so ties keep their current order.
        rows[lev] = sorted(rows[lev], key=lambda v: key(v, neighbours[v]))
        place(rows[lev])

    for row in rows.values():
        place(row)
    order = sorted(rows)
    for _ in range(_SWEEPS):
        for lev in order[1:]:
            reorder(lev, parents)
        for lev in reversed(order[:-1]):
            reorder(lev, children)
    # Then, keeping that order, pull nodes toward their neighbours' mean as closely as the boxes'
    # widths allow: this straightens long edges' waypoint chains and centres parents on children.
    for row in [rows[lev] for lev in order + order[::-1]] * _SWEEPS:
        gaps = [(width[u] + width[v]) / 2 for u, v in zip(row, row[1:])]
        want = [key(v, parents[v] + children[v]) for v in row]
        pos.update(zip(row, _closest_ordered(want, gaps)))
    return {v: (pos[v], float(level[v])) for v in range(len(level))}, chains


def dag_layout(
    edges: Sequence[Tuple[int, int]], num_nodes: int, levels: Optional[Sequence[int]] = None
) -> Dict[int, Tuple[float, float]]:
    """Layered layout: ``{node: (position within its level, level)}``.

    The level is ``dag_levels`` when ``levels`` is None; every edge goes to a higher one. Nodes of
    a level are at least 1 apart, ordered by barycentre sweeps to reduce edge crossings, then
    pulled toward their neighbours; edges skipping levels reserve narrow slots in between.
    """
    layout, _ = _layout(edges, num_nodes, levels)
    return {node: layout[node] for node in range(num_nodes)}


def _closest_ordered(want: List[float], gaps: List[float]) -> List[float]:
    """Positions nearest to ``want`` (least squares) with ``x[i+1] - x[i] >= gaps[i]``."""
    # Less the cumulative gaps, this is isotonic regression, solved exactly by pooling adjacent
    # violators: a block of nodes pushed together sits at its mean target.
    offsets = list(accumulate(gaps, initial=0.0))
    blocks: List[List[float]] = []  # [sum of targets, count]
    for target in (w - o for w, o in zip(want, offsets)):
        blocks.append([target, 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    flat = [total / count for total, count in blocks for _ in range(int(count))]
    return [y + o for y, o in zip(flat, offsets)]


def _fontsize(text: str, box_points: float, largest: float) -> float:
    # A DejaVu character averages about 0.55 em: shrink long labels to fit in the box.
    return max(5.0, min(largest, box_points / (0.55 * max(len(text), 1))))


def save_png(fig: Figure, path: str) -> str:
    """Render ``fig`` on an Agg canvas into the PNG file ``path`` (directories made); returns it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", format="png")
    return path


def draw_dag(
    path: str,
    *,
    labels: Sequence[str],
    edges: Sequence[Tuple[int, int]],
    highlighted: Collection[int] = (),
    levels: Optional[Sequence[int]] = None,
    title: str = "",
    node_notes: Optional[Sequence[str]] = None,
) -> str:
    """Draw a DAG top to bottom (boxes with ``labels``, arrows parent -> child) to PNG ``path``.

    Nodes in ``highlighted`` (e.g. early exits) are filled red and named in a legend;
    ``node_notes`` adds a small second line per node. ``levels`` defaults to the longest-path
    levels. Parent directories are created; returns ``path``.
    """
    n = len(labels)
    if node_notes is not None and len(node_notes) != n:
        raise ValueError(f"{len(node_notes)} node notes for {n} nodes")
    highlighted = set(highlighted)
    if any(not 0 <= h < n for h in highlighted):
        raise ValueError(f"highlighted nodes {sorted(highlighted)} out of range for {n} nodes")
    layout, chains = _layout(edges, n, levels)
    xs = [x for x, _ in layout.values()] or [0.0]
    ys = [y for _, y in layout.values()] or [0.0]
    # Each level slot gets a fixed size in inches, so large graphs grow instead of shrinking.
    size = (max(max(xs) - min(xs) + 1, 3) * _X_INCH, max(max(ys) - min(ys) + 1, 2) * _Y_INCH)
    fig = Figure(figsize=size)
    try:
        ax = fig.add_axes((0, 0, 1, 1))
        # The level axis points down, so sources are on top.
        ax.set(xlim=(min(xs) - 0.5, max(xs) + 0.5), ylim=(max(ys) + 0.5, min(ys) - 0.5))
        ax.set_axis_off()
        w = _BOX_W * _X_INCH * 72 * 0.92  # usable text width inside a box, in points
        boxes = {}
        for node in range(n):  # the layout also holds the edges' waypoints, which get no box
            x, y = layout[node]
            red = node in highlighted
            face = _EXIT_COLOR if red else _NODE_COLOR
            corner = (x - _BOX_W / 2, y - _BOX_H / 2)
            boxes[node] = box = FancyBboxPatch(corner, _BOX_W, _BOX_H, facecolor=face, **_BOX)
            ax.add_patch(box)
            note = node_notes[node] if node_notes is not None else ""
            label = str(labels[node])
            text = dict(ha="center", va="center", zorder=3, color="white" if red else "black")
            ax.text(x, y - (0.07 if note else 0), label, fontsize=_fontsize(label, w, 9), **text)
            if note:
                ax.text(x, y + 0.14, note, fontsize=_fontsize(note, w, 6.5), **text)
        for (a, b), chain in zip(edges, chains):
            # Lines start at box centres: the opaque boxes, drawn above them, hide that part.
            points = [layout[a], *(layout[v] for v in chain)]
            ax.plot(*zip(*points), color=_ARROW["color"], lw=_ARROW["lw"], zorder=1)
            # The head is clipped at the child's box, so it ends on the box border.
            arrow = {**_ARROW, "patchA": None if chain else boxes[a], "patchB": boxes[b]}
            ax.annotate("", xy=layout[b], xytext=points[-1], arrowprops=arrow, zorder=1)
        if highlighted:
            handle = Patch(facecolor=_EXIT_COLOR, edgecolor="#333333", label="early exit")
            ax.legend(handles=[handle], loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
        ax.set_title(title, loc="left", fontsize=11)  # an empty title takes no room
        return save_png(fig, path)
    finally:
        fig.clear()  # no pyplot registry holds it; clearing frees the artists right away


def plot_accuracy_vs_flops(
    path: str, curves: Sequence[dict], *, budget: Optional[float] = None, title: str = ""
) -> str:
    """Plot anytime accuracy (%) against MFLOPs for each curve, as post steps, to PNG ``path``.

    A curve is ``{"label", "flops", "accuracy", "style"?}``: cumulative FLOPs of each early exit
    (increasing), the accuracy of each exit as a fraction, and a matplotlib linestyle (default
    ``"-"``). Accuracy is 0 before the first exit and holds until the next one, up to ``budget``
    (FLOPs, drawn as a dashed vertical line) when given. Returns ``path``.
    """
    fig = Figure(figsize=(7, 4.5))
    try:
        ax = fig.add_subplot()
        top = 0.0
        for curve in curves:
            flops = [float(f) / 1e6 for f in curve["flops"]]
            acc = [100.0 * float(a) for a in curve["accuracy"]]
            ok = flops and len(flops) == len(acc) and all(0 <= a <= 100 for a in acc)
            if not ok or any(b < a for a, b in zip([0.0, *flops], flops)):
                raise ValueError(f"{curve['label']!r}: need rising FLOPs, accuracies in [0, 1]")
            step_x, step_y = [0.0, *flops], [0.0, *acc]
            if budget is not None and budget / 1e6 > flops[-1]:
                step_x.append(budget / 1e6)
                step_y.append(acc[-1])
            style = dict(linestyle=curve.get("style", "-"), linewidth=1.6, label=curve["label"])
            (line,) = ax.step(step_x, step_y, where="post", **style)
            ax.plot(flops, acc, "o", color=line.get_color(), markersize=4.5)
            top = max(top, *acc)
        if budget is not None:
            label = f"budget ({budget / 1e6:g} MFLOPs)"
            ax.axvline(budget / 1e6, color="black", linestyle="--", linewidth=1, label=label)
        ax.set_xlim(left=0)
        ax.set_ylim(0, min(100.0, top + 5) if top else 100.0)
        ax.set(xlabel="MFLOPs", ylabel="accuracy (%)", title=title)
        ax.grid(True, alpha=0.35)
        ax.legend(loc="best")
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        fig.clear()
