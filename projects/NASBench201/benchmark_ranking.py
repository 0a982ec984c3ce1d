#!/usr/bin/env python
"""How well does a GHN rank NAS-Bench-201? Scored against the benchmark's 200-epoch accuracies.

    python projects/NASBench201/benchmark_ranking.py \
        --config-file projects/NASBench201/configs/quick.yaml \
        [--num-archs 200] [--table ../shared/data/nasbench201/nasbench201.csv] [KEY VALUE ...]

Protocol (in this order, so nothing that ranks can see the ground truth):
1. train the GHN on the arrays file's ``x_train`` only (the "ghn" phase; resumable);
2. draw a seeded sample of K benchmark indices and take their architecture strings (the table's
   ``arch_index``/``arch_str`` columns: the benchmark's own numbering, no accuracy);
3. score them with GHN weights on ``x_test`` at a fixed batch size, appending each chunk to
   ``results.jsonl`` (the core's format) as it is scored, until all are scored or
   ``--time-limit`` minutes have passed (``--resume`` continues a cut-off run); then time a plain
   per-architecture forward of the same networks (their own weights, built outside the timer) on
   the same images, as written (NCHW) and in channels-last, to compare with the whole scoring
   (weight generation included);
4. only then read the accuracies and report Kendall τ-b, Spearman ρ and Pearson r over all and
   over the better half (⌈n/2⌉ by ground truth, index tie-break), and precision@top-5%, for the
   GHN and for the baselines measured in the same run: parameter count of the built networks
   and the table's 12-epoch training (``cifar10valid_xvalid_acc_12ep``).
It also counts how many isomorphs (``nats_unique_str``) of the scored architectures the GHN met
in training, by replaying the trainer's seeded architecture stream.
"""

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

PROJECT = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT))
from nasbench201 import NB201Architecture, add_nasbench201_config  # noqa: E402

from ghnas.data import build_dataset, evaluation_batches  # noqa: E402
from ghnas.engine import config_from_args, default_setup, run_cli  # noqa: E402
from ghnas.evaluation import correlations, precision_at_k, top_half_correlations  # noqa: E402
from ghnas.ghn import build_ghn  # noqa: E402
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights  # noqa: E402
from ghnas.layers.batch_statistics import batch_statistics  # noqa: E402
from ghnas.search import ArchitectureScorer, ResultStore, count_parameters  # noqa: E402
from ghnas.search.random_search import state_fingerprint  # noqa: E402
from ghnas.search_spaces import build_search_space  # noqa: E402
from ghnas.selection import build_criterion  # noqa: E402
from ghnas.trainers import build_trainer  # noqa: E402
from ghnas.utils.errors import GhnasError  # noqa: E402

TOTAL = 15625
TRUTH, SHORT_TRAINING = "cifar10_test_acc_200ep", "cifar10valid_xvalid_acc_12ep"


def read_columns(path: str, columns):
    """The named columns of the table, by arch_index (one pass, nothing else kept)."""
    if not os.path.isfile(path):
        raise GhnasError(f"--table: {path} not found")
    with open(path, newline="") as f:
        return {int(r["arch_index"]): [r[c] for c in columns] for r in csv.DictReader(f)}


def plain_forward_rate(space, archs, batches, channels_last: bool) -> float:
    """Archs/s of an ordinary forward of each network (its own weights, BN on batch statistics)
    on ``batches``. Building a network is not timed; one network exists at a time."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    images = [x.contiguous(memory_format=memory_format) for x, _ in batches]

    def build(arch):
        return space.build_network(arch).to(images[0].device, memory_format=memory_format)

    forward_seconds(build(archs[0]), images)  # warm-up, not counted
    return len(archs) / sum(forward_seconds(build(arch), images) for arch in archs)


def forward_seconds(network, images) -> float:
    """Seconds of ``network`` over ``images``, BN on batch statistics."""
    start = time.perf_counter()
    with torch.no_grad(), batch_statistics(network):
        for x in images:
            network(x)
    _synchronize(images[0].device)
    return time.perf_counter() - start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def estimator_row(name, predicted, truth, keys, cost):
    k = max(1, round(0.05 * len(truth)))
    every, half = correlations(predicted, truth), top_half_correlations(predicted, truth, keys)
    row = {
        "estimator": name,
        "cost": cost,
        "precision@5%": precision_at_k(predicted, truth, keys, k),
    }
    row.update({f"{m} (all)": every[m] for m in ("kendall", "spearman", "pearson")})
    row.update({f"{m} (top half)": half[m] for m in ("kendall", "spearman", "pearson")})
    return row


def main(args) -> dict:
    started = time.perf_counter()
    cfg = config_from_args(args, add_nasbench201_config)
    if cfg.DATASETS.NAME != "npz":
        raise GhnasError("the benchmark scores on the arrays file's x_test: set DATASETS.NAME npz")
    if not os.path.isfile(args.table):  # checked now, not after the GHN has trained
        raise GhnasError(f"--table: {args.table} not found")
    splits = build_dataset(cfg)
    default_setup(cfg, args)

    build_trainer(cfg, splits, "GHN.TRAINER").train(resume=args.resume)  # x_train only
    space = build_search_space(cfg, splits.meta)
    ghn = build_ghn(cfg, space)
    checkpoint = load_ghn_weights(ghn, final_checkpoint_path(cfg.OUTPUT_DIR), cfg, space)

    strings = read_columns(args.table, ["arch_str"])
    k = TOTAL if args.num_archs <= 0 else min(args.num_archs, TOTAL)
    indices = sorted(
        np.random.default_rng([cfg.SEED, 201]).choice(TOTAL, k, replace=False).tolist()
    )
    archs = [NB201Architecture.from_string(strings[i][0]) for i in indices]
    batches = evaluation_batches(
        dataset=splits.test, meta=splits.meta, num_images=len(splits.test),
        batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, seed=cfg.SEED, device=cfg.MODEL.DEVICE,
    )  # fmt: skip
    scorer = ArchitectureScorer(
        ghn=ghn, space=space, criterion=build_criterion(cfg), batches=batches,
        arch_batch=cfg.SEARCH.ARCH_BATCH, fused=cfg.MODEL.FUSED_NETWORKS,
    )  # fmt: skip
    out = os.path.join(cfg.OUTPUT_DIR, "benchmark")
    os.makedirs(out, exist_ok=True)
    header = {"space": space.name, "space_settings": space.describe(), "seed": cfg.SEED,
              "eval_images": len(splits.test), "eval_batch_size": cfg.SEARCH.EVAL_BATCH_SIZE,
              "split": "x_test", "arch_batch": cfg.SEARCH.ARCH_BATCH,
              "ghn_fingerprint": state_fingerprint(ghn)}  # fmt: skip
    store = ResultStore(os.path.join(out, "results.jsonl"), header)
    rows = {r["arch_index"]: r for r in store.open(resume=args.resume)}
    todo = [(i, a) for i, a in zip(indices, archs) if i not in rows]
    deadline = started + 60 * args.time_limit if args.time_limit > 0 else math.inf
    scored, seconds = 0, 0.0
    for chunk in scorer.chunks(todo):
        if time.perf_counter() > deadline:
            break
        start = time.perf_counter()
        results = scorer.evaluate_chunk([a for _, a in chunk])
        _synchronize(batches[0][0].device)
        seconds += time.perf_counter() - start
        scored += len(chunk)
        for (index, arch), result in zip(chunk, results):
            row = {"arch": arch.to_dict(), "hash": arch.canonical_hash, **result,
                   "params": count_parameters(space, arch), "flops": space.analytic_flops(arch),
                   "arch_index": index}  # fmt: skip
            store.append(row)
            rows[index] = row
    if not scored and not rows:
        raise GhnasError("--time-limit ran out before any architecture was scored")
    ranking_rate = scored / seconds if seconds else math.nan
    measured = [a for i, a in zip(indices, archs) if i in rows][: args.baseline_archs]
    plain_rate = plain_forward_rate(space, measured, batches, channels_last=False)
    plain_cl_rate = plain_forward_rate(space, measured, batches, channels_last=True)
    indices = [i for i in indices if i in rows]  # those scored, if the time limit cut the run
    archs = [NB201Architecture.from_dict(rows[i]["arch"]) for i in indices]
    scores = [rows[i]["score"] for i in indices]
    params = [rows[i]["params"] for i in indices]

    # Only now: the ground truth.
    table = read_columns(args.table, [TRUTH, SHORT_TRAINING, "nats_unique_str"])
    truth = [float(table[i][0]) for i in indices]
    twelve = [float(table[i][1]) for i in indices]
    training_space = build_search_space(cfg, splits.meta, training=True)
    replay = np.random.default_rng([cfg.SEED, 1])  # the GHN trainer's architecture stream
    by_string = {s[0]: i for i, s in strings.items()}
    seen = {table[by_string[training_space.sample(replay).to_string()]][2]
            for _ in range(cfg.SOLVER.MAX_ITER * cfg.GHN.META_BATCH)}  # fmt: skip
    met = sum(table[i][2] in seen for i in indices)

    cost = f"{1 / ranking_rate:.3f} s/arch"
    estimators = [estimator_row(f"GHN ({cfg.SEARCH.CRITERION})", scores, truth, indices, cost)]
    if cfg.SEARCH.CRITERION != "accuracy" and all("accuracy" in rows[i] for i in indices):
        accuracy = [rows[i]["accuracy"] for i in indices]  # the same pass, read by argmax
        estimators.append(estimator_row("GHN (accuracy)", accuracy, truth, indices, cost))
    estimators += [
        estimator_row("parameter count", params, truth, indices, "0"),
        estimator_row("12-epoch training (table)", twelve, truth, indices, "12 epochs/arch"),
    ]
    report = {
        "num_archs": len(indices),
        "ghn_training_seconds": checkpoint.get("train_seconds"),
        "ranking_archs_per_s": ranking_rate,
        "ranked_this_run": scored,
        "plain_forward_archs_per_s": plain_rate,
        "plain_forward_channels_last_archs_per_s": plain_cl_rate,
        "plain_forward_archs_measured": len(measured),
        "isomorphs_met_in_training": met,
        "estimators": estimators,
    }
    with open(os.path.join(out, "ranking.json"), "w") as f:
        json.dump(report, f, indent=2)
    shown = [{k: (f"{v:.3f}" if isinstance(v, float) and not math.isnan(v) else v)
              for k, v in r.items()} for r in estimators]  # fmt: skip
    print(f"{len(indices)} architectures; GHN trained {report['ghn_training_seconds']:.0f} s; "
          f"{met} scored architectures had an isomorph in GHN training")  # fmt: skip
    print(f"ranking (weight generation + evaluation): {ranking_rate:.1f} archs/s over {scored}; "
          f"plain forward over {len(measured)}: {plain_rate:.1f} archs/s "
          f"({ranking_rate / plain_rate:.2f}x), channels-last {plain_cl_rate:.1f} archs/s "
          f"({ranking_rate / plain_cl_rate:.2f}x)")  # fmt: skip
    print(tabulate(shown, headers="keys", tablefmt="github"))
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_table = os.path.join(
        os.environ.get("GHNAS_SHARED_DATA", str(PROJECT.parents[2] / "shared" / "data")),
        "nasbench201", "nasbench201.csv",
    )  # fmt: skip
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--num-archs", type=int, default=200, help="K sampled indices (0: all)")
    p.add_argument("--table", default=default_table, help="the ground-truth CSV")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a run in OUTPUT_DIR: its GHN training, then its scoring",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in an OUTPUT_DIR that holds a run (the old run is moved aside)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=0,
        metavar="MIN",
        help="minutes of wall time (GHN training included) after which scoring stops "
        "and what was scored is reported; 0: no limit",
    )
    p.add_argument("--baseline-archs", type=int, default=100, metavar="N",
                   help="architectures the plain per-architecture forward is timed on")  # fmt: skip
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[])
    return p


if __name__ == "__main__":
    sys.exit(run_cli(main, parser().parse_args()))
