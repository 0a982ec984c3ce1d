"""The tiny correlation benchmark the evaluation tests run (seconds on one core)."""

import sys
from argparse import Namespace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tools")]

import eval_correlation  # noqa: E402
from tiny_config import TINY_OVERRIDES  # noqa: E402

NUM_ARCHS = 5


def run(output_dir, cache, *overrides):
    """``tools/eval_correlation.py`` on the tiny config, writing under ``output_dir`` with the
    ground-truth cache ``cache``; returns the summary."""
    opts = TINY_OVERRIDES + [
        "OUTPUT_DIR", str(output_dir), "DATASETS.TEST_SIZE", 100,
        "CORRELATION.NUM_ARCHS", NUM_ARCHS, "CORRELATION.EPOCHS", 1,
        "CORRELATION.IMS_PER_BATCH", 64, "CORRELATION.SGD_STEPS", [2, 10],
        "CORRELATION.BOOTSTRAP_RESAMPLES", 50, "CORRELATION.CACHE_DIR", str(cache),
        "CORRELATION.TOP_COMPARE", 0,
        *overrides,
    ]  # fmt: skip
    config = str(REPO / "configs" / "Base-Classification.yaml")
    args = Namespace(config_file=config, resume=False, opts=[str(o) for o in opts])
    return eval_correlation.main(args)
