"""ghnas.utils.visualization: DAG levels and layout, and both plots write a non-blank PNG."""

import random

import numpy as np
import pytest
from matplotlib.image import imread

from ghnas.utils.visualization import (
    _layout,
    dag_layout,
    dag_levels,
    draw_dag,
    plot_accuracy_vs_flops,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_drawn_png(path, min_side=200):
    """``path`` is a PNG of plausible size whose pixels are not all equal (something was drawn)."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side
    assert np.ptp(image[..., :3]) > 0.5


def random_dag(num_nodes, seed):
    """A connected random DAG: each node after the first has 1-2 parents among earlier nodes."""
    rng = random.Random(seed)
    edges = set()
    for child in range(1, num_nodes):
        for parent in rng.sample(range(child), k=min(child, rng.choice((1, 1, 2)))):
            edges.add((parent, child))
    return sorted(edges)


def longest_path_levels(edges, num_nodes):
    """Plain DP over nodes in index order, valid since these test edges go to larger indices."""
    levels = [0] * num_nodes
    for child in range(num_nodes):
        for a, b in edges:
            if b == child:
                levels[b] = max(levels[b], levels[a] + 1)
    return levels


def test_levels_match_longest_path_on_hand_example():
    # 0 -> 1 -> 2 -> 4 and a shortcut 0 -> 4; 3 is a second source feeding 4; 5 is isolated.
    edges = [(0, 1), (1, 2), (2, 4), (0, 4), (3, 4)]
    assert dag_levels(edges, 6) == [0, 1, 2, 0, 3, 0]
    assert dag_levels(edges, 6) == longest_path_levels(edges, 6)
    edges = random_dag(30, seed=1)
    assert dag_levels(edges, 30) == longest_path_levels(edges, 30)


def test_levels_reject_cycles_and_bad_edges():
    with pytest.raises(ValueError, match="cycle"):
        dag_levels([(0, 1), (1, 2), (2, 0)], 3)
    with pytest.raises(ValueError, match="bad edge"):
        dag_levels([(0, 3)], 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layout_places_every_node_once_by_level(seed):
    num_nodes = 30
    edges = random_dag(num_nodes, seed)
    levels = dag_levels(edges, num_nodes)
    layout = dag_layout(edges, num_nodes)
    assert sorted(layout) == list(range(num_nodes))
    for node, (_, y) in layout.items():
        assert y == levels[node]  # one level, one coordinate along the level axis
    for a, b in edges:
        assert layout[b][1] > layout[a][1]
    for level in set(levels):
        # Boxes of one level never overlap: at least one slot apart (edge waypoints may sit
        # between them).
        xs = sorted(x for x, y in layout.values() if y == level)
        assert all(right - left >= 1 - 1e-9 for left, right in zip(xs, xs[1:]))


def test_layout_with_given_levels_and_barycentre_uncrossing():
    # Two chains whose second level starts in the crossed order: sweeps must uncross them.
    edges = [(0, 3), (1, 2)]
    layout = dag_layout(edges, 4)
    assert (layout[2][0] < layout[3][0]) == (layout[1][0] < layout[0][0])
    layout = dag_layout(edges, 4, levels=[0, 0, 2, 3])
    assert [layout[n][1] for n in range(4)] == [0.0, 0.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="higher level"):
        dag_layout(edges, 4, levels=[1, 0, 0, 1])


def test_long_edges_get_a_free_slot_at_each_level_they_cross():
    # 0 -> 1 -> 2 -> 3 is a chain, 0 -> 3 skips two levels: it must not run behind 1 and 2.
    layout, chains = _layout([(0, 1), (1, 2), (2, 3), (0, 3)], 4, None)
    assert [len(c) for c in chains] == [0, 0, 0, 2]
    for waypoint, node in zip(chains[3], (1, 2)):
        assert layout[waypoint][1] == layout[node][1]
        assert abs(layout[waypoint][0] - layout[node][0]) > 0.5  # clear of the box (0.84 wide)


def test_draw_dag_30_nodes(tmp_path):
    edges = random_dag(30, seed=0)
    labels = [
        random.Random(i).choice(["conv 3x3", "sep conv 5x5", "max pool", "sum"]) for i in range(30)
    ]
    notes = [f"1/{2 ** (i % 3)} scale" for i in range(30)]
    path = str(tmp_path / "nested" / "dag.png")
    out = draw_dag(
        path,
        labels=labels,
        edges=edges,
        highlighted={9, 19, 29},
        title="random DAG",
        node_notes=notes,
    )
    assert out == path
    assert_drawn_png(path)
    # Highlighted boxes are red: some pixels are strongly red.
    image = imread(path)[..., :3]
    red = (image[..., 0] > 0.8) & (image[..., 1] < 0.4) & (image[..., 2] < 0.4)
    assert red.sum() > 100


def test_draw_dag_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        draw_dag(str(tmp_path / "x.png"), labels=["a", "b"], edges=[(0, 1)], highlighted=[5])
    with pytest.raises(ValueError):
        draw_dag(str(tmp_path / "x.png"), labels=["a", "b"], edges=[(0, 1)], node_notes=["n"])


def test_plot_accuracy_vs_flops(tmp_path):
    curves = [
        {"label": "predicted", "flops": [50e6, 120e6, 300e6], "accuracy": [0.41, 0.6, 0.72]},
        {
            "label": "trained",
            "flops": [50e6, 120e6, 300e6],
            "accuracy": [0.38, 0.58, 0.7],
            "style": "--",
        },
    ]
    path = str(tmp_path / "curves" / "acc.png")
    assert plot_accuracy_vs_flops(path, curves, budget=400e6, title="anytime") == path
    assert_drawn_png(path)


def test_plot_accuracy_vs_flops_rejects_bad_curves(tmp_path):
    path = str(tmp_path / "acc.png")
    with pytest.raises(ValueError, match="rising"):
        plot_accuracy_vs_flops(path, [{"label": "a", "flops": [2, 1], "accuracy": [0.1, 0.2]}])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_accuracy_vs_flops(path, [{"label": "a", "flops": [1], "accuracy": [70]}])
