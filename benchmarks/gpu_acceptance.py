#!/usr/bin/env python
"""GPU acceptance: one table of speed ratios, all measured in the same run.

    python benchmarks/gpu_acceptance.py --device cuda --data .device/data/cifar10-12k.npz \
        --table .device/data/nasbench201.csv --out $OUT/acceptance.json   # <= 8 min, one GPU
    python benchmarks/gpu_acceptance.py --tiny --device cpu   # every code path, tiny sizes

Sections (each stops at ``--time-budget`` seconds; ``acceptance_sections.py`` measures them):

1. NAS-Bench-201 at the benchmark's size (C=16, 5 cells per stage): archs/s of the whole GHN
   scoring (graphs, weight generation, the fused network on every x_test image), against the
   plain forward of each network with its own weights on the same images, in fp32 and in bf16
   autocast channels-last (``nasbench201.ranking.plain_forward_rate``).
2. The paper's space (``configs/classification_cifar10.yaml``, N=17 nodes, its B blocks, F=32):
   seconds of scoring per architecture on up to 5,000 validation images, against the paper's
   0.08 GPU-s.
3. GHN training steps/s on the paper's space with ``MODEL.AMP_DTYPE`` bfloat16 against none.
4. ``configs/anytime.yaml``'s GHN training with its own settings, iterations/s.

The GHNs are freshly initialised: the figures are speeds, and the scores mean nothing. The
CIFAR-10 images come from the arrays file (``DATASETS.NAME npz``); nothing is downloaded.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

from ghnas.data import build_dataset
from ghnas.engine import run_cli, setup_logger
from ghnas.plugins import installed_plugins
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import write_atomically

REPO = Path(__file__).resolve().parents[1]
NB201_CONFIG = REPO / "projects" / "NASBench201" / "configs" / "Base-NASBench201.yaml"
PAPER_CONFIG = REPO / "configs" / "classification_cifar10.yaml"
ANYTIME_CONFIG = REPO / "configs" / "anytime.yaml"
PAPER_WIDTH = 32  # F of the paper's space, the width whose networks have the paper's size
PAPER_SECONDS = 0.08  # the paper's GPU-seconds of GHN scoring per architecture
VAL_IMAGES = 5000  # the paper's validation images, or half the training images if fewer
# (id, op, threshold, field) of the tracker's targets.
TARGETS = {
    "nb201_scoring": (">=", 260.0, "ours", " archs/s"),
    "nb201_vs_plain_low": (">=", 3.7, "ratio", "x"),
    "paper_scoring": ("<=", 0.05, "ours", " s"),
}
# Sizes fields: test images (0: all), scored archs, plain-forward archs, training steps of the
# paper space and of anytime.yaml, untimed warm-up steps (see acceptance_sections.Sizes).
FULL_SIZES = (0, 15625, 100, 100, 300, 10)
TINY_SIZES = (64, 8, 3, 3, 3, 2)
TINY = ["INPUT.SIZE", 16, "SEARCH.EVAL_BATCH_SIZE", 32, "SOLVER.IMS_PER_BATCH", 16,
        "GHN.NUM_PASSES", 1]  # fmt: skip
FULL_NB201 = ["NASBENCH201.CHANNELS", 16, "NASBENCH201.CELLS_PER_STAGE", 5]  # the benchmark's
TINY_NB201 = ["NASBENCH201.CHANNELS", 4, "NASBENCH201.CELLS_PER_STAGE", 1]
TINY_PAPER = ["SEARCH_SPACE.NUM_NODES", 5, "SEARCH_SPACE.NUM_BLOCKS", 3, "MODEL.INIT_CHANNELS", 4,
              "GHN.TRAIN_NUM_NODES", 3]  # fmt: skip
TINY_ANYTIME = ["ANYTIME.BLOCK_NODES", "[6, 4, 2]", "ANYTIME.NUM_EXITS", 3,
                "ANYTIME.FLOP_BUDGET", 3e6, "MODEL.INIT_CHANNELS", 4]  # fmt: skip


def main(args) -> dict:
    """Measure every section, print the table, write it to ``--out``; returns the report."""
    train_images = check_inputs(args)
    # Imported once the plug-in is known to be installed: a missing one is a one-line error.
    import acceptance_sections as sections

    setup_logger()  # the trainers' lines on stderr
    started, device = time.perf_counter(), torch.device(args.device)
    sizes = sections.Sizes(*(TINY_SIZES if args.tiny else FULL_SIZES))
    budget = args.time_budget if args.time_budget > 0 else (5.0 if args.tiny else 45.0)
    knobs = knob_values(args, device, sections.bfloat16_or_none(device))
    with tempfile.TemporaryDirectory(prefix="gpu_acceptance_") as folder:
        common = common_overrides(args, folder, train_images)
        results = measure(sections, args, common, sizes, budget, knobs)
    rows = [judged(r, not args.tiny) for r in table_rows(*results.values(), knobs)]
    report = {"device": device_name(device), "torch": torch.__version__, "tiny": args.tiny,
              "ghn": "untrained (freshly initialised): speeds only", "knobs": knobs,
              "time_budget_s": budget, "seconds": time.perf_counter() - started,
              "sections": results, "rows": rows}  # fmt: skip
    print_report(report)
    write_atomically(args.out, json.dumps(report, indent=2))
    return report


def measure(sections, args, common: list, sizes, budget: float, knobs: dict) -> dict:
    """Every section's figures, in the table's order (configs all load before the first)."""
    started = time.perf_counter()
    nb201_cfg = sections.load_config(NB201_CONFIG, common + nb201_overrides(args, knobs))
    paper_cfg = sections.load_config(PAPER_CONFIG, common + paper_overrides(args, knobs))
    anytime_cfg = sections.load_config(ANYTIME_CONFIG, common + anytime_overrides(args, sizes))
    progress("NAS-Bench-201 scoring and plain forward", started)
    nb201 = sections.nasbench201_section(nb201_cfg, args.table, sizes, budget)
    progress("paper-space scoring", started)
    splits = build_dataset(paper_cfg)  # shared by the scoring and the training
    paper = sections.paper_space_section(paper_cfg, splits, sizes, budget)
    training = {}
    for name, dtype in (("amp", sections.bfloat16_or_none(torch.device(args.device))),
                        ("fp32", "none")):  # fmt: skip
        progress(f"GHN training, AMP {dtype}", started)
        cfg = sections.with_values(paper_cfg, MODEL__AMP_DTYPE=dtype)
        iters = sizes.train_iters, sizes.warmup_iters
        training[name] = sections.training_section(cfg, splits, *iters, budget)
    progress("configs/anytime.yaml GHN training", started)
    iters = sizes.anytime_iters, sizes.warmup_iters
    anytime = sections.training_section(anytime_cfg, None, *iters, budget)
    progress("done", started)
    return {"nasbench201": nb201, "paper_space": paper, "ghn_training": training,
            "anytime": anytime}  # fmt: skip


def check_inputs(args) -> int:
    """Every input exists before any work starts (one line each); returns the arrays file's
    training images."""
    if "nasbench201" not in installed_plugins():
        raise GhnasError("the nasbench201 plug-in is not installed: pip install -e "
                         "projects/NASBench201")  # fmt: skip
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise GhnasError(f"--device {args.device}: no CUDA device is available (use cpu)")
    for flag, path in (("--data", args.data), ("--table", args.table)):
        if not os.path.isfile(path):
            raise GhnasError(f"{flag}: {path} not found")
    try:
        with np.load(args.data) as arrays:
            train_images = len(arrays["y_train"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise GhnasError(f"--data: {args.data} is not an arrays file with y_train ({e})")
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)  # an unwritable --out fails now, not after the run
    if not os.access(folder, os.W_OK):
        raise GhnasError(f"--out: {folder} is not writable")
    return train_images


def knob_values(args, device: torch.device, bfloat16: str) -> dict:
    """The scoring knobs: ``NASBENCH201.FUSED_GROUP``, ``SEARCH.ARCH_BATCH``, AMP dtype
    (``bfloat16``: what this device's autocast runs for it, "none" where it has none)."""
    gpu = device.type == "cuda"
    group = args.fused_group if args.fused_group >= 0 else (2 if args.tiny else 16 if gpu else 1)
    batch = args.arch_batch if args.arch_batch > 0 else (4 if args.tiny else 64 if gpu else 8)
    amp = bfloat16 if args.amp == "bfloat16" else args.amp
    return {"fused_group": group, "arch_batch": batch, "amp_dtype": amp}


def common_overrides(args, folder: str, train_images: int) -> list:
    """The arrays file's CIFAR-10 on ``--device``, the validation images that fit, a temporary
    OUTPUT_DIR; in ``--tiny`` mode small images, batches and GHNs."""
    val = 64 if args.tiny else min(VAL_IMAGES, train_images // 2)
    common = ["DATASETS.NAME", "npz", "DATASETS.PATH", args.data, "DATASETS.VAL_SIZE", val,
              "SEARCH.EVAL_IMAGES", val, "MODEL.DEVICE", args.device,
              "OUTPUT_DIR", folder]  # fmt: skip
    return common + (TINY if args.tiny else [])


def nb201_overrides(args, knobs: dict) -> list:
    """The benchmark's network (tiny: 4 channels, one cell per stage) and the scoring knobs."""
    size = TINY_NB201 if args.tiny else FULL_NB201
    return size + ["NASBENCH201.FUSED_GROUP", knobs["fused_group"], "SEARCH.ARCH_BATCH",
                   knobs["arch_batch"], "MODEL.AMP_DTYPE", knobs["amp_dtype"]]  # fmt: skip


def paper_overrides(args, knobs: dict) -> list:
    """F=32 (tiny: a small space) and the scoring knobs."""
    size = TINY_PAPER if args.tiny else ["MODEL.INIT_CHANNELS", PAPER_WIDTH]
    return size + ["SEARCH.ARCH_BATCH", knobs["arch_batch"], "MODEL.AMP_DTYPE", knobs["amp_dtype"]]


def anytime_overrides(args, sizes) -> list:
    """Its own settings but for MAX_ITER (the steps timed) and, in ``--tiny`` mode, the size."""
    return ["SOLVER.MAX_ITER", sizes.warmup_iters + sizes.anytime_iters] + (
        TINY_ANYTIME if args.tiny else []
    )


def table_rows(nb201, paper, training, anytime, knobs) -> list:
    """One row per figure: what, ours, baseline, ratio (a speed-up: > 1 is ours faster)."""
    amp, fp32 = training["amp"], training["fp32"]
    scoring = (f"NAS-Bench-201 GHN scoring ({nb201['network']}), archs/s: {nb201['archs']} "
               f"archs, {nb201['images']} x_test images, fused group {knobs['fused_group']}, "
               f"arch batch {knobs['arch_batch']}, AMP {knobs['amp_dtype']}")  # fmt: skip
    plain = f"NAS-Bench-201 GHN scoring vs plain forward ({nb201['plain_archs']} archs)"
    rate = nb201["archs_per_s"]
    rows = [
        row("nb201_scoring", scoring, rate),
        row("nb201_vs_plain_fp32", f"{plain}, fp32 NCHW", rate, nb201["plain_fp32_archs_per_s"]),
        row("nb201_vs_plain_low", f"{plain}, {nb201['plain_dtype']} autocast channels-last",
            rate, nb201["plain_low_precision_archs_per_s"]),
        row("paper_scoring", f"paper space scoring ({paper['space']}), s/arch: {paper['archs']} "
            f"archs, {paper['images']} val images; baseline the paper's GPU-s",
            paper["seconds_per_arch"], PAPER_SECONDS, seconds=True),
        row("ghn_training_amp", f"GHN training ({paper['space']}, {paper['train_nodes']}-node "
            f"blocks), steps/s: AMP {amp['amp_dtype']} ({amp['steps']} steps) vs none "
            f"({fp32['steps']})", amp["steps_per_s"], fp32["steps_per_s"]),
        row("anytime_training", f"configs/anytime.yaml GHN training, it/s ({anytime['steps']} "
            "steps)", anytime["steps_per_s"]),
    ]  # fmt: skip
    return rows


def row(key: str, what: str, ours: float, baseline=None, seconds: bool = False) -> dict:
    """A table row; its ratio is a speed-up, so for seconds it is baseline / ours."""
    ratio = None
    if baseline is not None:
        ratio = baseline / ours if seconds else ours / baseline
    entry = {"id": key, "what": what, "ours": ours, "baseline": baseline, "ratio": ratio}
    if key in TARGETS:
        op, threshold, _, unit = TARGETS[key]
        entry["target"] = f"{op} {threshold:g}{unit}"
    return entry


def judged(entry: dict, full_size: bool) -> dict:
    """``entry`` with ``met`` (None in ``--tiny`` mode: the targets are for the full sizes)."""
    if entry["id"] not in TARGETS:
        return entry
    op, threshold, field, _ = TARGETS[entry["id"]]
    value = entry[field]
    met = (value >= threshold if op == ">=" else value <= threshold) if full_size else None
    return {**entry, "met": met}


def print_report(report: dict) -> None:
    """The header lines and the table."""
    tiny = " (--tiny: tiny networks; the targets are for the full sizes)" if report["tiny"] else ""
    print(f"GPU acceptance on {report['device']}, torch {report['torch']}{tiny}")
    print(f"GHN {report['ghn']}; {report['seconds']:.0f} s in all")

    def number(value):
        return "-" if value is None else f"{value:.4g}"

    table = [[r["what"], number(r["ours"]), number(r["baseline"]),
              "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", r.get("target", "-"),
              {True: "yes", False: "NO"}.get(r.get("met"), "-")]
             for r in report["rows"]]  # fmt: skip
    print(tabulate(table, headers=["what", "ours", "baseline", "ratio", "target", "met"],
                   tablefmt="github", disable_numparse=True))  # fmt: skip


def progress(section: str, started: float) -> None:
    """A line on stderr as each section starts, so a slow one shows where the time goes."""
    print(f"[{time.perf_counter() - started:6.1f} s] {section}", file=sys.stderr, flush=True)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def parser() -> argparse.ArgumentParser:
    """The command line (``--tiny`` changes the defaults of the data file and the budget)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="tiny sizes on any device, well under a "
                   "minute on one CPU thread: every code path, no meaningful figure")  # fmt: skip
    p.add_argument("--data", default="", help="the CIFAR-10 arrays file (default: $GHNAS_"
                   "SHARED_DATA/cifar10/cifar10-12k.npz, with --tiny cifar10-1k.npz)")  # fmt: skip
    p.add_argument("--table", default=str(shared_data() / "nasbench201" / "nasbench201.csv"),
                   help="the NAS-Bench-201 table (only its arch_str column is read)")  # fmt: skip
    p.add_argument("--time-budget", type=float, default=0, metavar="S",
                   help="seconds each section may time at most (default 45, --tiny 5)")  # fmt: skip
    p.add_argument("--fused-group", type=int, default=-1, help="NASBENCH201.FUSED_GROUP "
                   "(default: 16 on a GPU, 1 on a CPU, 2 with --tiny; 0: a chunk)")  # fmt: skip
    p.add_argument("--arch-batch", type=int, default=0, help="SEARCH.ARCH_BATCH of both "
                   "scorings (default: 64 on a GPU, 8 on a CPU, 4 with --tiny)")  # fmt: skip
    p.add_argument("--amp", default="bfloat16", choices=["bfloat16", "none"],
                   help="MODEL.AMP_DTYPE of the scoring sections")  # fmt: skip
    p.add_argument("--out", default="output/gpu_acceptance.json", help="the table as JSON")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """Arguments, with the data file's default chosen by ``--tiny``."""
    args = parser().parse_args(argv)
    if not args.data:
        name = "cifar10-1k.npz" if args.tiny else "cifar10-12k.npz"
        args.data = str(shared_data() / "cifar10" / name)
    return args


def shared_data() -> Path:
    """The shared data folder: ``$GHNAS_SHARED_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("GHNAS_SHARED_DATA", REPO.parent / "shared" / "data"))


if __name__ == "__main__":
    sys.exit(run_cli(main, parse_args()))
