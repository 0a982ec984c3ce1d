#!/usr/bin/env python
"""Export a searched architecture as a deployable bundle (torch.export program, weights, FLOPs).

    python tools/export_model.py --config-file X.yaml --arch FILE [--rank N]
        [--weights final|ghn|random] [--overwrite | --resume] [KEY VALUE ...]

FILE is an ``arch.json`` or a search's ``results.jsonl`` (N: 1-based over descending score, ties
broken by hash). The bundle goes to OUTPUT_DIR/export/<hash>/ (written aside, then renamed into
place); a network over EXPORT.FLOP_BUDGET is refused, and so is an existing bundle of that hash
unless ``--overwrite`` replaces it (``--resume`` keeps it). Weights: the final training of that
architecture when it exists, otherwise choose ``ghn`` (generated, BN statistics recalibrated)
or ``random``.
"""

import sys

from ghnas.data import build_dataset
from ghnas.engine import config_from_args, default_argument_parser, default_setup, run_cli
from ghnas.export import WEIGHT_SOURCES, BundleExporter, read_architecture


def argument_parser():
    """The default parser plus --arch, --rank and --weights."""
    parser = default_argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, metavar="FILE",
                        help="arch.json or a search's results.jsonl")  # fmt: skip
    parser.add_argument("--rank", type=int, default=None, metavar="N",
                        help="with a results.jsonl: the N-th best (default 1)")  # fmt: skip
    parser.add_argument("--weights", choices=WEIGHT_SOURCES, default=None,
                        help="where the weights come from (default: final training)")  # fmt: skip
    return parser


def main(args):
    """Read the architecture, build the dataset (metadata, BN recalibration), write the bundle."""
    cfg = config_from_args(args)
    arch, source = read_architecture(args.arch, args.rank)
    splits = build_dataset(cfg)
    exporter = BundleExporter(cfg, splits, overwrite=args.overwrite, resume=args.resume)
    exporter.check(arch, args.weights)
    default_setup(cfg, args, fresh_run=False)  # an export adds to the run in OUTPUT_DIR
    return exporter.export(arch, weights=args.weights, source=source)


if __name__ == "__main__":
    sys.exit(run_cli(main, argument_parser().parse_args()))
