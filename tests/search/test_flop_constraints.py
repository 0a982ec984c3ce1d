"""SEARCH.CONSTRAINTS.FLOPS: only candidates in [lo, hi] are scored; a clear error if none fit."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.metadata import DatasetMetadata
from ghnas.search.candidates import sample_distinct
from ghnas.search_spaces import ClassificationSearchSpace, build_search_space
from ghnas.selection.constraints import FlopRange
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
META = DatasetMetadata(num_classes=10, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
SPACE = ClassificationSearchSpace(num_nodes=4, num_blocks=3, init_channels=2, meta=META)


def middle_half(space, seed: int = 0):
    """The 25th and 75th percentiles of the space's FLOPs."""
    rng = np.random.default_rng(seed)
    flops = [space.analytic_flops(space.sample(rng)) for _ in range(200)]
    return [float(v) for v in np.percentile(flops, [25, 75])]


def test_only_architectures_inside_the_range_are_kept_in_draw_order():
    lo, hi = middle_half(SPACE)
    accept = FlopRange(space=SPACE, low=lo, high=hi)
    kept = sample_distinct(SPACE, 10, seed=3, accept=accept, accept_what=str(accept))
    assert all(lo <= SPACE.analytic_flops(arch) <= hi for arch in kept)
    # The same draws as without the constraint, minus the rejected ones.
    unconstrained = sample_distinct(SPACE, 100, seed=3)
    assert kept == [arch for arch in unconstrained if accept(arch)][:10]


def test_nothing_inside_the_range_is_a_one_line_error_naming_the_key():
    accept = FlopRange(space=SPACE, low=0, high=1000)
    with pytest.raises(GhnasError) as info:
        sample_distinct(SPACE, 5, seed=0, max_tries_per_arch=4, accept=accept,
                        accept_what=str(accept))  # fmt: skip
    message = str(info.value)
    assert message.startswith("SEARCH.NUM_ARCHS=5: only 0 distinct architectures in 20 draws")
    assert "pass SEARCH.CONSTRAINTS.FLOPS=[0, 1000]" in message and "\n" not in message


@pytest.mark.parametrize(
    "bounds,message",
    [
        ([2e6, 1e6], "[lo, hi] with 0 <= lo <= hi, got [2e+06, 1e+06]"),
        ([1e6], "two numbers [lo, hi] or [], got [1000000.0]"),
        ([1, 2, 3], "two numbers [lo, hi] or [], got [1, 2, 3]"),
        (["a", 2], "two numbers [lo, hi] or [], got ['a', 2]"),
        ([-1, 2], "[lo, hi] with 0 <= lo <= hi, got [-1, 2]"),
    ],
)
def test_bad_bounds_are_rejected(bounds, message):
    cfg = get_cfg()
    cfg.SEARCH.CONSTRAINTS.FLOPS = bounds
    with pytest.raises(GhnasError) as info:
        FlopRange.from_config(cfg, SPACE)
    assert str(info.value) == f"SEARCH.CONSTRAINTS.FLOPS must be {message}"


def test_an_empty_list_is_no_constraint():
    assert FlopRange.from_config(get_cfg(), SPACE) is None


def test_the_search_scores_only_candidates_inside_the_range(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    import train_net

    from ghnas.engine import default_argument_parser

    quick = str(REPO / "configs" / "quick" / "classification.yaml")

    def run(*overrides, out=tmp_path):
        args = default_argument_parser().parse_args(
            ["--config-file", quick, "OUTPUT_DIR", str(out), *TINY_OVERRIDES, *overrides]
        )
        train_net.main(args)

    cfg = get_cfg()
    cfg.merge_from_file(quick)
    cfg.merge_from_list(TINY_OVERRIDES)
    lo, hi = middle_half(build_search_space(cfg, build_dataset(cfg).meta))
    run("SEARCH.CONSTRAINTS.FLOPS", f"[{lo}, {hi}]")
    lines = (tmp_path / "search" / "results.jsonl").read_text().splitlines()
    header = json.loads((tmp_path / "search" / "results_meta.json").read_text())
    rows = [json.loads(line) for line in lines]
    assert header["flop_constraint"] == [lo, hi]
    assert len(rows) == cfg.SEARCH.NUM_ARCHS
    assert all(lo <= row["flops"] <= hi for row in rows)

    ghn = str(tmp_path / "ghn" / "model_final.pth")
    with pytest.raises(GhnasError, match=r"pass SEARCH.CONSTRAINTS.FLOPS=\[0, 10\]"):
        run("PHASES", '["search"]', "SEARCH.CONSTRAINTS.FLOPS", "[0, 10]",
            "SEARCH.GHN_CHECKPOINT", ghn, out=tmp_path / "narrow")  # fmt: skip
