"""What every entry point does the same way: arguments, setup, and one-line errors."""

import argparse
import logging
import os
import random
import sys
from typing import Callable, List, Optional

import numpy as np
import torch

from ghnas.config import CfgNode, get_cfg
from ghnas.engine.distributed import (
    get_rank,
    get_world_size,
    init_from_torchrun_env,
    is_main_process,
    on_main_process,
    shutdown,
)
from ghnas.engine.output_dir import claim_output_dir, release_output_dir
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import write_atomically

logger = logging.getLogger("ghnas")

AMP_DTYPES = ("none", "float16", "bfloat16")


def default_argument_parser(description: str = "ghnas") -> argparse.ArgumentParser:
    """``--config-file FILE [--resume] [KEY VALUE ...]``."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog="Example: tools/train_net.py --config-file configs/quick/classification.yaml "
        "SOLVER.MAX_ITER 100",
    )
    parser.add_argument("--config-file", required=True, metavar="FILE", help="YAML config")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in OUTPUT_DIR where it stopped"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in an OUTPUT_DIR that holds a run (the old run is moved aside)",
    )
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config overrides as KEY VALUE pairs"
    )
    return parser


def config_from_args(args, extend: Optional[Callable[[CfgNode], None]] = None) -> CfgNode:
    """Defaults (plus a project's ``extend(cfg)`` keys), then the file, then the overrides."""
    cfg = get_cfg()
    if extend is not None:
        extend(cfg)
    cfg.merge_from_file(args.config_file)
    opts = list(args.opts)
    for flag in ("--resume", "--overwrite"):  # argparse leaves flags after the overrides in opts
        setattr(args, flag[2:], getattr(args, flag[2:], False) or flag in opts)
        if flag in opts:
            opts.remove(flag)
    cfg.merge_from_list(opts)
    check_values(cfg)
    cfg.freeze()
    return cfg


def check_values(cfg: CfgNode) -> None:
    """Values whose type is right but whose content is not (one line each), before any work."""
    device = cfg.MODEL.DEVICE
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise GhnasError(f"MODEL.DEVICE: '{device}' is not 'cpu' or 'cuda'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GhnasError(
            "MODEL.DEVICE is 'cuda' but no CUDA device is available; use 'cpu' (MODEL.DEVICE "
            "cpu), and for a run sized for a CPU start from configs/quick/ (such as "
            "configs/quick/anytime.yaml for configs/anytime.yaml)"
        )
    if cfg.MODEL.AMP_DTYPE not in AMP_DTYPES:
        raise GhnasError(f"MODEL.AMP_DTYPE: '{cfg.MODEL.AMP_DTYPE}' is not one of {AMP_DTYPES}")
    if cfg.MODEL.AMP_DTYPE == "float16" and "ghn" in cfg.PHASES:
        raise GhnasError(
            "MODEL.AMP_DTYPE: float16 needs loss scaling, which GHN training does not do; use "
            "'bfloat16' or 'none' for the ghn phase (float16 is fine for a search-only run)"
        )
    positive = ["GHN.NUM_PASSES", "GHN.HIDDEN_SIZE", "GHN.MESSAGE_HIDDEN_SIZE",
                "GHN.HYPERNET_HIDDEN_SIZE", "GHN.TRAIN_NUM_NODES", "SOLVER.BASE_LR"]  # fmt: skip
    for key in positive:
        section, name = key.split(".")
        if not cfg[section][name] > 0:
            raise GhnasError(f"{key} must be > 0, got {cfg[section][name]}")
    if cfg.SEED < 0:
        raise GhnasError(f"SEED must be >= 0, got {cfg.SEED}")
    if not 0 < cfg.SOLVER.LR_DECAY_FACTOR <= 1:
        raise GhnasError(
            f"SOLVER.LR_DECAY_FACTOR must be in (0, 1], got {cfg.SOLVER.LR_DECAY_FACTOR}"
        )
    for key in ("SOLVER.LR_DECAY_POINTS", "FINAL.LR_DECAY_POINTS"):
        section, name = key.split(".")
        points = list(cfg[section][name])
        if any(not 0 < p < 1 for p in points) or points != sorted(set(points)):
            raise GhnasError(f"{key} must be increasing fractions in (0, 1), got {points}")
    if cfg.FINAL.MIN_CHANNELS < 1:
        raise GhnasError(f"FINAL.MIN_CHANNELS must be >= 1, got {cfg.FINAL.MIN_CHANNELS}")


def default_setup(cfg: CfgNode, args, fresh_run: bool = True) -> None:
    """Join torchrun's process group (if any), claim OUTPUT_DIR, log to the console and
    ``log.txt``, dump the config, seed.

    Call it once the inputs are checked: claiming the folder is the first write. It is locked
    for this process, and a fresh run (``fresh_run`` and no ``--resume``) into a folder that
    holds a run is refused unless ``--overwrite`` (see :mod:`ghnas.engine.output_dir`).
    An add-on leaves the run's ``config.yaml`` as it is.
    Under torchrun only rank 0 claims the folder, writes ``log.txt`` and ``config.yaml`` and
    logs at INFO; the other ranks log warnings and errors to the console only, prefixed with
    their rank, since their INFO lines would repeat rank 0's.
    """
    init_from_torchrun_env(cfg.MODEL.DEVICE)
    # A refusal on rank 0 (folder in use, holding a run) ends every rank with the same line.
    aside = on_main_process(
        lambda: claim_output_dir(
            cfg.OUTPUT_DIR, resume=args.resume, overwrite=args.overwrite, fresh_run=fresh_run
        )
    )
    if is_main_process():
        setup_logger(os.path.join(cfg.OUTPUT_DIR, "log.txt"))
    else:
        setup_logger(level=logging.WARNING, prefix=f"rank {get_rank()}: ")
    if aside:
        logger.warning(f"--overwrite: the previous run in {cfg.OUTPUT_DIR} was moved to {aside}")
    logger.info(f"command: {' '.join(sys.argv)}")
    world = get_world_size()
    processes = f", {world} processes ({torch.distributed.get_backend()})" if world > 1 else ""
    logger.info(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cfg.MODEL.DEVICE}"
        f"{processes}"
    )
    if is_main_process() and fresh_run:  # an add-on (an export) keeps the run's own config
        write_atomically(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg.dump())
    random.seed(cfg.SEED)
    np.random.seed(cfg.SEED)
    torch.manual_seed(cfg.SEED)


def setup_logger(
    path: Optional[str] = None, level: int = logging.INFO, prefix: str = ""
) -> logging.Logger:
    """The "ghnas" logger: time-stamped lines (from ``level`` up) on stderr and, if given, in
    ``path``; ``prefix`` starts every message (a rank's name under torchrun)."""
    formatter = logging.Formatter(f"[%(asctime)s] {prefix}%(message)s", datefmt="%H:%M:%S")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handlers: List[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        handlers.append(logging.FileHandler(path))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def run_cli(main: Callable[[argparse.Namespace], object], args: argparse.Namespace) -> int:
    """Run ``main(args)``; bad input becomes one line on stderr and exit status 2."""
    try:
        main(args)
    except OSError as e:  # a folder or file the run needs cannot be written (full, read-only)
        where = f": {e.filename}" if e.filename else ""
        print(f"ghnas: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except GhnasError as e:
        print(f"ghnas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "ghnas: interrupted; rerun the same command with --resume to continue", file=sys.stderr
        )
        return 130
    finally:
        release_output_dir()
        shutdown()  # leave torchrun's process group, if one was joined
    return 0
