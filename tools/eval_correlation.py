#!/usr/bin/env python
"""Correlation benchmark: GHN vs SGD, one-shot, params and FLOPs against real training.

    python tools/eval_correlation.py --config-file configs/quick/correlation.yaml [--resume]

Trains (or loads) the GHN, trains the held-out architectures for the ground truth (cached
under OUTPUT_DIR/correlation/ground_truth, so a rerun re-trains nothing finished), and writes
OUTPUT_DIR/correlation/{table.md, results.jsonl, summary.json, *.png}. With ABLATION.KEY set it
runs the benchmark once per ABLATION.VALUES entry and writes OUTPUT_DIR/ablation/summary.md.
"""

import sys

from ghnas.data import build_dataset
from ghnas.engine import config_from_args, default_argument_parser, default_setup, run_cli
from ghnas.engine.distributed import init_from_torchrun_env
from ghnas.evaluation.ablation import check_ablation, run_ablation
from ghnas.evaluation.correlation import CorrelationBenchmark


def main(args, extend=None):
    """Build the dataset once, then run the benchmark or the ablation sweep."""
    cfg = config_from_args(args, extend)
    init_from_torchrun_env(cfg.MODEL.DEVICE)  # before the dataset lands on this rank's device
    splits = build_dataset(cfg)
    if cfg.ABLATION.KEY:
        check_ablation(cfg, splits)
        default_setup(cfg, args)
        return run_ablation(cfg, splits, resume=args.resume)
    benchmark = CorrelationBenchmark.from_config(cfg, splits)  # checks the inputs, writes nothing
    default_setup(cfg, args)
    return benchmark.run(resume=args.resume)


if __name__ == "__main__":
    sys.exit(run_cli(main, default_argument_parser(__doc__.splitlines()[0]).parse_args()))
