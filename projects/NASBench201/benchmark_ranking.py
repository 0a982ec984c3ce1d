#!/usr/bin/env python
"""How well does a GHN rank NAS-Bench-201? Scored against the benchmark's 200-epoch accuracies.

    python projects/NASBench201/benchmark_ranking.py \
        --config-file projects/NASBench201/configs/quick.yaml \
        [--num-archs 200|all] [--seeds 0,1,2] [--table ../shared/data/nasbench201/nasbench201.csv] \
        [KEY VALUE ...]

Protocol (in this order, so nothing that ranks can see the ground truth):
1. train the GHN on the arrays file's ``x_train`` only (the "ghn" phase; resumable);
2. draw a seeded sample of K benchmark indices and take their architecture strings (the table's
   ``arch_index``/``arch_str`` columns: the benchmark's own numbering, no accuracy);
3. score them with GHN weights on ``x_test`` at a fixed batch size, appending each chunk to
   ``results.jsonl`` (the core's format: header in ``results_meta.json``, the rows also as
   ``results.csv``) as it is scored, until all are scored or
   ``--time-limit`` minutes have passed (``--resume`` continues a cut-off run); then time a plain
   per-architecture forward of the same networks (their own weights, built outside the timer) on
   the same images, as written (NCHW) and in channels-last, to compare with the whole scoring
   (weight generation included);
   Beside each architecture's GHN score, the training-free baselines of the same architecture
   on the benchmark's own network (``--baseline-network``, C=16 and 5 cells per stage, as
   published): parameter count, FLOPs and every ``ZERO_COST.ESTIMATORS`` estimator on one seeded
   mini-batch of ``x_test`` (``ghnas/evaluation/zero_cost.py``);
4. only then read the accuracies and report Kendall τ-b (with its 95% bootstrap interval),
   Spearman ρ and Pearson r over all and over the better half (⌈n/2⌉ by ground truth, index
   tie-break), and precision@top-5%, for the GHN, the baselines and the table's 12-epoch
   training (``cifar10valid_xvalid_acc_12ep``); over all scored architectures and over one per
   isomorphism class (``nats_unique_str``, the de-duplicated view).
Under ``torchrun`` the GHN and the one-shot supernet train data-parallel and the ranks split
the scoring as the core's search does; rank 0 writes and prints everything.
With ``--seeds``, each seed trains its own GHN and draws its own sample in
``OUTPUT_DIR/seed_<s>``, and a summary gives τ per seed and mean ± sd of each metric.
It also counts how many isomorphs (``nats_unique_str``) of the scored architectures the GHN met
in training, by replaying the trainer's seeded architecture stream.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from nasbench201 import NB201Architecture
from nasbench201.checkpoint_ranking import checkpoint_table, score_checkpoints
from nasbench201.ranking import (
    baseline_network,
    estimator_row,
    isomorphs_met,
    parse_num_archs,
    parse_seeds,
    plain_forward_rate,
    print_report,
    read_columns,
    sample_indices,
    score_sample,
    summarise_seeds,
    unique_classes,
)
from tabulate import tabulate

from ghnas.data import build_dataset, evaluation_batches
from ghnas.engine import config_from_args, default_setup, run_cli
from ghnas.engine.distributed import init_from_torchrun_env, is_main_process, on_main_process
from ghnas.evaluation.baseline_scorer import BaselineScorer
from ghnas.evaluation.correlation import ONE_SHOT_STREAM
from ghnas.evaluation.one_shot import train_one_shot
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights
from ghnas.plugins import installed_plugins
from ghnas.search import ArchitectureScorer, ResultStore
from ghnas.search.random_search import state_fingerprint
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.trainers import build_trainer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import write_atomically

PROJECT = Path(__file__).resolve().parent
TRUTH, SHORT_TRAINING = "cifar10_test_acc_200ep", "cifar10valid_xvalid_acc_12ep"


def main(args) -> dict:
    """One seed's report, or with ``--seeds`` every seed's and their summary."""
    if "nasbench201" not in installed_plugins():
        raise GhnasError("the nasbench201 plug-in is not installed: pip install -e " + str(PROJECT))
    cfg = config_from_args(args)
    init_from_torchrun_env(cfg.MODEL.DEVICE)  # before the dataset lands on this rank's device
    if cfg.DATASETS.NAME != "npz":
        raise GhnasError("the benchmark scores on the arrays file's x_test: set DATASETS.NAME npz")
    if not os.path.isfile(args.table):  # checked now, not after the GHN has trained
        raise GhnasError(f"--table: {args.table} not found")
    parse_num_archs(args.num_archs), baseline_network(args.baseline_network)
    if not args.seeds:
        return run_seed(cfg, args)
    seeds = parse_seeds(args.seeds)
    reports = [run_seed(seed_config(cfg, seed), args) for seed in seeds]
    summary = {
        "seeds": seeds,
        "per_seed": dict(zip(map(str, seeds), reports)),
        "summary": summarise_seeds(seeds, reports),
        "summary_unique": summarise_seeds(seeds, reports, view="estimators_unique"),
    }
    if is_main_process():
        path = os.path.join(cfg.OUTPUT_DIR, "seeds.json")
        write_atomically(path, json.dumps(summary, indent=2))
        print(f"\nover seeds {args.seeds}: every scored architecture")
        print(tabulate(summary["summary"], headers="keys", tablefmt="github"))
        print("one architecture per isomorphism class")
        print(tabulate(summary["summary_unique"], headers="keys", tablefmt="github"))
    return summary


def seed_config(cfg, seed: int):
    """``cfg`` for one seed of a ``--seeds`` run, in its own folder."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.SEED, cfg.OUTPUT_DIR = seed, os.path.join(cfg.OUTPUT_DIR, f"seed_{seed}")
    cfg.freeze()
    return cfg


def run_seed(cfg, args) -> dict:
    """Train the GHN, score the sample (GHN and baselines), time the plain forward, report."""
    started = time.perf_counter()
    splits = build_dataset(cfg)
    channels, cells = baseline_network(args.baseline_network)
    baseline_cfg = cfg.clone()
    baseline_cfg.defrost()
    baseline_cfg.NASBENCH201.CHANNELS, baseline_cfg.NASBENCH201.CELLS_PER_STAGE = channels, cells
    baselines = BaselineScorer.from_config(
        baseline_cfg, build_search_space(baseline_cfg, splits.meta), splits.test, splits.meta
    )
    default_setup(cfg, args)

    build_trainer(cfg, splits, "GHN.TRAINER").train(resume=args.resume)  # x_train only
    space = build_search_space(cfg, splits.meta)
    if args.one_shot:  # the same steps, architectures per step and images as the GHN
        one_shot, one_shot_seconds = train_one_shot(
            cfg, splits, space, arch_stream=ONE_SHOT_STREAM, meta_batch=cfg.GHN.META_BATCH,
            resume=args.resume,
        )  # fmt: skip
    ghn = build_ghn(cfg, space)
    checkpoint = load_ghn_weights(ghn, final_checkpoint_path(cfg.OUTPUT_DIR), cfg, space)
    strings = read_columns(args.table, ["arch_str"])
    indices = sample_indices(cfg.SEED, parse_num_archs(args.num_archs))
    archs = [NB201Architecture.from_string(strings[i][0]) for i in indices]
    batches = evaluation_batches(
        dataset=splits.test, meta=splits.meta, num_images=len(splits.test),
        batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, seed=cfg.SEED, device=cfg.MODEL.DEVICE,
    )  # fmt: skip
    scorers = {
        name: ArchitectureScorer(
            ghn=generator, space=space, criterion=build_criterion(cfg), batches=batches,
            arch_batch=cfg.SEARCH.ARCH_BATCH, fused=cfg.MODEL.FUSED_NETWORKS,
        )
        for name, generator in [("ghn", ghn)] + ([("one_shot", one_shot)] if args.one_shot else [])
    }  # fmt: skip
    header = {"space": space.name, "space_settings": space.describe(), "seed": cfg.SEED,
              "eval_images": len(splits.test), "eval_batch_size": cfg.SEARCH.EVAL_BATCH_SIZE,
              "split": "x_test", "arch_batch": cfg.SEARCH.ARCH_BATCH,
              "ghn_fingerprint": state_fingerprint(ghn),
              "one_shot": state_fingerprint(one_shot) if args.one_shot else None,
              "baselines": {"network": [channels, cells], "estimators": baselines.names,
                            "batch_size": baseline_cfg.ZERO_COST.BATCH_SIZE}}  # fmt: skip
    deadline = started + 60 * args.time_limit if args.time_limit > 0 else math.inf
    store = ResultStore(os.path.join(cfg.OUTPUT_DIR, "benchmark", "results.jsonl"), header)
    todo = list(zip(indices, archs))
    rows, timing = score_sample(store, args.resume, scorers, baselines, todo, deadline)
    measured = [a for i, a in zip(indices, archs) if i in rows][: args.baseline_archs]
    timing.update(on_main_process(lambda: plain_forward_timing(space, measured, batches)))
    scored = [(i, a) for i, a in zip(indices, archs) if i in rows][: args.checkpoint_archs]
    earlier = on_main_process(lambda: score_checkpoints(
        cfg, space, batches, [i for i, _ in scored], [a for _, a in scored],
        cache=os.path.join(cfg.OUTPUT_DIR, "benchmark", "checkpoints.json"),
    ) if scored else None)  # fmt: skip
    timing["ghn_training_seconds"] = checkpoint.get("train_seconds")
    timing["one_shot_training_seconds"] = one_shot_seconds if args.one_shot else None
    indices = [i for i in indices if i in rows]  # those scored, if the time limit cut the run
    if not indices:
        raise GhnasError("--time-limit ran out before any architecture of the sample was scored")
    network = (f"C={channels}, N={cells}", baselines.estimator_names)
    report = evaluate(cfg, args, splits, rows, indices, strings, timing, network, earlier)
    if is_main_process():
        ranking = os.path.join(cfg.OUTPUT_DIR, "benchmark", "ranking.json")
        write_atomically(ranking, json.dumps(report, indent=2))
        print_report(report)
    return report


def plain_forward_timing(space, archs, batches) -> dict:
    """Archs/s of the plain per-architecture forward, as written and in channels-last (rank 0
    alone times it, so that other ranks' work does not share its clock)."""
    return {
        "plain_forward_archs_per_s": plain_forward_rate(space, archs, batches, False),
        "plain_forward_channels_last_archs_per_s": plain_forward_rate(space, archs, batches, True),
        "plain_forward_archs_measured": len(archs),
    }


def seconds_per_arch(rate: float) -> str:
    """The cost column of a scorer running at ``rate`` architectures per second."""
    return f"{1 / rate:.3f} s/arch" if math.isfinite(rate) and rate > 0 else "-"


def evaluate(cfg, args, splits, rows, indices, strings, timing, baselines, earlier) -> dict:
    """Only now: the ground truth, and every estimator's metrics against it. ``baselines`` is
    the baselines' network, as shown, and their names (rows store them sorted); ``earlier``
    the earlier checkpoints' scores (or None)."""
    network, names = baselines
    table = read_columns(args.table, [TRUTH, SHORT_TRAINING, "nats_unique_str"])
    truth = [float(table[i][0]) for i in indices]
    cost = seconds_per_arch(timing["ranking_archs_per_s"])
    scores = {f"GHN ({cfg.SEARCH.CRITERION})": ([rows[i]["score"] for i in indices], cost)}
    if cfg.SEARCH.CRITERION != "accuracy" and all("accuracy" in rows[i] for i in indices):
        accuracy = [rows[i]["accuracy"] for i in indices]  # the same pass, read by argmax
        scores["GHN (accuracy)"] = (accuracy, cost)
    if "one_shot" in rows[indices[0]]:
        cost = seconds_per_arch(timing["one_shot_archs_per_s"])
        scores["one-shot supernet"] = ([rows[i]["one_shot"]["score"] for i in indices], cost)
    for name in names:
        per_arch = np.mean([rows[i]["baseline_seconds"][name] for i in indices])
        values = [rows[i]["baselines"][name] for i in indices]
        scores[f"{name} ({network})"] = (values, f"{per_arch:.3f} s/arch")
    scores["12-epoch training (table)"] = ([float(table[i][1]) for i in indices], "12 epochs/arch")
    unique = unique_classes(indices, {i: table[i][2] for i in indices})

    def rows_for(positions):
        keys, true = [indices[p] for p in positions], [truth[p] for p in positions]
        return [
            estimator_row(name, [values[p] for p in positions], true, keys, cost,
                          resamples=args.bootstrap, seed=cfg.SEED)
            for name, (values, cost) in scores.items()
        ]  # fmt: skip

    return {
        "num_archs": len(indices),
        "num_unique": len(unique),
        **timing,
        "isomorphs_met_in_training": isomorphs_met(cfg, splits, strings, table, indices),
        "estimators": rows_for(range(len(indices))),
        "estimators_unique": rows_for(unique),
        "checkpoints": None if earlier is None else checkpoint_table(
            earlier, {i: rows[i]["score"] for i in indices}, dict(zip(indices, truth))
        ),
    }  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_table = os.path.join(
        os.environ.get("GHNAS_SHARED_DATA", str(PROJECT.parents[2] / "shared" / "data")),
        "nasbench201", "nasbench201.csv",
    )  # fmt: skip
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--num-archs", default="200", help="K sampled indices ('all' or 0: all 15,625)")
    p.add_argument("--seeds", default="", metavar="S,S,...",
                   help="one GHN and one sample per seed, each in OUTPUT_DIR/seed_<s>, and a "
                   "summary over them (default: SEED alone, in OUTPUT_DIR)")  # fmt: skip
    p.add_argument("--baseline-network", default="16,5", metavar="C,N",
                   help="channels and cells per stage of the networks the training-free "
                   "baselines are computed on (the benchmark's: 16,5)")  # fmt: skip
    p.add_argument(
        "--no-one-shot",
        dest="one_shot",
        action="store_false",
        help="leave out the one-shot supernet (trained like the GHN, then scored)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="resamples of the 95%% bootstrap interval of τ")  # fmt: skip
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
    p.add_argument("--checkpoint-archs", type=int, default=500, metavar="N",
                   help="architectures of the sample the GHN's two checkpoints before the final "
                   "one also score, to show how much τ moves (0: none)")  # fmt: skip
    p.add_argument("--baseline-archs", type=int, default=100, metavar="N",
                   help="architectures the plain per-architecture forward is timed on")  # fmt: skip
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[])
    return p


if __name__ == "__main__":
    sys.exit(run_cli(main, parser().parse_args()))
