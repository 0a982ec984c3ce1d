#!/usr/bin/env python
"""Run the phases a config lists: ghn (train the GHN), search (rank), final (train), export.

    python tools/train_net.py --config-file FILE.yaml [--phases ghn,search] \
        [--resume | --overwrite] [KEY VALUE ...]

Every phase reads and writes under OUTPUT_DIR, which one run holds at a time. An interrupted
run continues with ``--resume``, which also runs further phases of a finished one (``--phases
search --resume``); a fresh run into a folder that holds one is refused unless
``--overwrite`` (the old run is moved aside). ``export`` bundles the architecture the final
phase trained (else the search's best) with EXPORT.WEIGHTS. Inputs are checked before the
first file is written.
"""

import argparse
import logging
import os
import sys

from ghnas.data import build_dataset
from ghnas.engine import config_from_args, default_argument_parser, default_setup, run_cli
from ghnas.engine.banner import phase_banner
from ghnas.engine.distributed import init_from_torchrun_env, on_main_process
from ghnas.export import BundleExporter, check_export_config, read_architecture
from ghnas.search import RandomSearch
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.trainers import TRAINER_REGISTRY, build_trainer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager
from ghnas.utils.registry import lookup

PHASES = ("ghn", "search", "final", "export")
logger = logging.getLogger("ghnas")


def load_config(args, extend=None):
    """Config from defaults, file and overrides (``--phases`` last), with PHASES checked."""
    trailing_flags(args)
    if getattr(args, "eval_only", False):
        eval_only(args)
    if getattr(args, "phases", None):
        args.opts = [*args.opts, "PHASES", args.phases]
    cfg = config_from_args(args, extend)
    if getattr(args, "eval_only", False) and not cfg.SEARCH.GHN_CHECKPOINT and not args.overwrite:
        args.resume = True  # the GHN is the run's own (file or override): add the search to it
    unknown = [p for p in cfg.PHASES if p not in PHASES]
    if unknown or not cfg.PHASES:
        raise GhnasError(f"PHASES: {list(cfg.PHASES)} is not a non-empty list of {PHASES}")
    return cfg


def trailing_flags(args) -> None:
    """``--phases P`` and ``--eval-only`` written after the KEY VALUE overrides, which argparse
    leaves among them, taken out as the flags they are."""
    opts = list(args.opts)
    if "--eval-only" in opts:
        opts.remove("--eval-only")
        args.eval_only = True
    if "--phases" in opts:
        at = opts.index("--phases")
        if at + 1 == len(opts):
            raise GhnasError("--phases needs a value, e.g. --phases ghn,search")
        args.phases = opts[at + 1]
        del opts[at : at + 2]
    args.opts = opts


def eval_only(args) -> None:
    """``--eval-only``: the search phase alone, scoring with an existing GHN (SEARCH.GHN_CHECKPOINT
    or the run's own, which it then continues); nothing is trained."""
    if getattr(args, "phases", None) not in (None, "search"):
        raise GhnasError(f"--eval-only runs the search phase alone; drop --phases {args.phases}")
    args.phases = "search"


def check_compatible(cfg, splits) -> None:
    """Criterion and final trainer must read the kind of network the space builds."""
    space = build_search_space(cfg, splits.meta)
    parts = [("SEARCH.CRITERION", build_criterion(cfg))]
    if "final" in cfg.PHASES:
        if not cfg.FINAL.TRAINER:
            raise GhnasError("PHASES lists 'final' but FINAL.TRAINER is empty")
        parts.append(
            ("FINAL.TRAINER", lookup(TRAINER_REGISTRY, cfg.FINAL.TRAINER, "FINAL.TRAINER"))
        )
    for key, part in parts:
        if getattr(part, "needs_early_exits", False) != space.early_exits:
            kind = "early-exit" if space.early_exits else "single-output"
            raise GhnasError(
                f"{key}: '{cfg[key.split('.')[0]][key.split('.')[1]]}' does not fit search space "
                f"'{space.name}', whose networks are {kind}"
            )


def check_phases(cfg, splits, resume: bool, overwrite: bool = False) -> None:
    """What each listed phase can check before anything is written (a resumed run included)."""
    if overwrite and cfg.PHASES[0] != "ghn" and not cfg.SEARCH.GHN_CHECKPOINT:
        raise GhnasError(
            f"--overwrite moves the whole run aside, but PHASES {list(cfg.PHASES)} starts from "
            "its earlier phases; add them to PHASES or use --resume"
        )
    if "ghn" in cfg.PHASES and resume:
        build_trainer(cfg, splits, "GHN.TRAINER").check_resume()
    if "search" in cfg.PHASES:
        RandomSearch.check_config(cfg, splits, resume=resume, ghn_trains="ghn" in cfg.PHASES)
    if "export" in cfg.PHASES or "final" in cfg.PHASES:
        check_export_config(cfg)


def main(args, extend=None):
    """Build the dataset once, check the parts fit together, then run each phase in order."""
    cfg = load_config(args, extend)
    init_from_torchrun_env(cfg.MODEL.DEVICE)  # before the dataset lands on this rank's device
    splits = build_dataset(cfg)
    check_compatible(cfg, splits)
    check_phases(cfg, splits, args.resume, args.overwrite)
    default_setup(cfg, args)
    for phase in cfg.PHASES:
        logger.info(phase_banner(cfg, splits, phase))
        run_phase(cfg, splits, phase, args)


def run_phase(cfg, splits, phase: str, args) -> None:
    """One phase of the run in OUTPUT_DIR."""
    if phase == "ghn":
        build_trainer(cfg, splits, "GHN.TRAINER").train(resume=args.resume)
    if phase == "search":
        RandomSearch.from_config(cfg, splits).run(resume=args.resume)
    if phase == "final":
        build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=args.resume)
    if phase == "export":
        trained = os.path.join(cfg.OUTPUT_DIR, "final", "results.json")
        if PathManager.exists(trained):
            arch, source = read_architecture(trained)
        else:
            arch, source = read_architecture(
                os.path.join(cfg.OUTPUT_DIR, "search", "results.jsonl"), rank=1
            )
        weights = cfg.EXPORT.WEIGHTS or None
        exporter = BundleExporter(cfg, splits, overwrite=args.overwrite, resume=args.resume)
        on_main_process(lambda: exporter.export(arch, weights=weights, source=source))


def argument_parser():
    """The common flags, ``--phases``, ``--eval-only``, the phases and examples."""
    parser = default_argument_parser(__doc__.splitlines()[0])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--phases", metavar="P,P", help=f"the phases to run, in order, from {', '.join(PHASES)} "
        "(default: the config's PHASES)",
    )  # fmt: skip
    parser.add_argument(
        "--eval-only", action="store_true",
        help="score with an existing GHN, training nothing (the search phase alone): "
        "SEARCH.GHN_CHECKPOINT, else the run's own in OUTPUT_DIR, whose search it continues",
    )  # fmt: skip
    parser.epilog = EPILOG
    return parser


EPILOG = """phases (PHASES in the config, or --phases):
  ghn      train the graph hypernetwork on sampled architectures (OUTPUT_DIR/ghn/)
  search   rank random architectures with GHN-generated weights (OUTPUT_DIR/search/)
  final    train the best searched architecture for real with FINAL.TRAINER (OUTPUT_DIR/final/)
  export   bundle the trained (else the best searched) architecture (OUTPUT_DIR/export/)

examples:
  tools/train_net.py --config-file configs/quick/classification.yaml
  tools/train_net.py --config-file configs/quick/classification.yaml --phases ghn,search
  tools/train_net.py --config-file configs/quick/classification.yaml --eval-only \\
      SEARCH.NUM_ARCHS 500          # rank more with the trained GHN
  tools/train_net.py --config-file configs/quick/classification.yaml --resume   # continue
  tools/train_net.py --config-file configs/quick/classification.yaml --overwrite  # start again
  tools/train_net.py --config-file configs/anytime.yaml MODEL.DEVICE cuda  # the paper's Sec. 4.3
"""


if __name__ == "__main__":
    sys.exit(run_cli(main, argument_parser().parse_args()))
