"""Pieces of the ranking benchmark (``benchmark_ranking.py``): the table, the timed baseline
forward, one estimator's metrics, the de-duplicated view, the isomorphs met in training, the
summary over seeds and the printout."""

import csv
import math
import os
import time
from typing import Dict, List, Sequence

import numpy as np
import torch
from tabulate import tabulate

from ghnas.engine.distributed import (
    all_gather_object,
    broadcast_object,
    get_world_size,
    is_main_process,
    on_main_process,
    shard,
)
from ghnas.evaluation import bootstrap_interval, correlations, precision_at_k, top_half_correlations
from ghnas.evaluation.zero_cost import rankable
from ghnas.layers.batch_statistics import batch_statistics
from ghnas.search.random_search import count_parameters
from ghnas.search_spaces import build_search_space
from ghnas.utils.errors import GhnasError

TOTAL = 15625
METRICS = ("kendall", "spearman", "pearson")
# Shown in the summary over seeds, in this order.
SUMMARY_COLUMNS = ("kendall (all)", "spearman (all)", "kendall (top half)", "precision@5%")


def read_columns(path: str, columns) -> Dict[int, List[str]]:
    """The named columns of the table, by arch_index (one pass, nothing else kept)."""
    if not os.path.isfile(path):
        raise GhnasError(f"--table: {path} not found")
    with open(path, newline="") as f:
        return {int(r["arch_index"]): [r[c] for c in columns] for r in csv.DictReader(f)}


def sample_indices(seed: int, k: int) -> List[int]:
    """K benchmark indices drawn without replacement, seeded by SEED alone (all if K = TOTAL)."""
    return sorted(np.random.default_rng([seed, 201]).choice(TOTAL, k, replace=False).tolist())


def parse_num_archs(text: str) -> int:
    """``--num-archs``: a count, or ``all`` (also 0) for the whole space."""
    if text.strip().lower() == "all":
        return TOTAL
    try:
        k = int(text)
    except ValueError:
        raise GhnasError(f"--num-archs must be a count or 'all', got {text!r}") from None
    if k < 0:
        raise GhnasError(f"--num-archs must be >= 0 (0 or 'all': every architecture), got {k}")
    return TOTAL if k == 0 else min(k, TOTAL)


def parse_seeds(text: str) -> List[int]:
    """``--seeds 0,1,2``: distinct integer seeds, in the order given."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GhnasError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if len(set(seeds)) != len(seeds) or not seeds:
        raise GhnasError(f"--seeds must name distinct seeds, got {text!r}")
    return seeds


def unique_classes(indices: Sequence[int], classes: Dict[int, str]) -> List[int]:
    """The positions in ``indices`` of one architecture per isomorphism class (``classes``
    maps an index to its ``nats_unique_str``), the lowest benchmark index of each."""
    first: Dict[str, int] = {}
    for position in sorted(range(len(indices)), key=lambda p: indices[p]):
        first.setdefault(classes[indices[position]], position)
    return sorted(first.values())


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
    synchronize(images[0].device)
    return time.perf_counter() - start


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer stops after it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def score_sample(store, resume: bool, scorers, baselines, todo, deadline: float):
    """Score what ``store`` lacks, chunk by chunk, until done or ``deadline``: each scorer of
    ``scorers`` ("ghn" first, its result in the row itself; the others under their name), then
    the training-free baselines. Returns the rows by benchmark index and the timings.

    Under torchrun the chunks are dealt out as the core's search deals them (rank r scores
    chunks r, r + N, ...) and gathered after each round in order; rank 0 alone writes the store,
    and rank 0's clock decides the deadline for every rank. Each row keeps the seconds each
    scorer spent on it, and the rates are one process's, over every stored row.
    """

    def open_store():
        os.makedirs(os.path.dirname(store.path), exist_ok=True)
        return store.open(resume=resume)

    rows = {r["arch_index"]: r for r in on_main_process(open_store)}
    chunks = scorers["ghn"].chunks([(i, a) for i, a in todo if i not in rows])
    mine, world = shard(chunks), get_world_size()
    seconds = dict.fromkeys([*scorers, "baselines"], 0.0)
    scored = 0
    for round_ in range(math.ceil(len(chunks) / world)):
        if broadcast_object(time.perf_counter() > deadline):
            break
        new = score_chunk(mine[round_], scorers, baselines, seconds) if round_ < len(mine) else []
        for row in (row for rows_of_rank in all_gather_object(new) for row in rows_of_rank):
            if is_main_process():
                store.append(row)
            rows[row["arch_index"]] = row
            scored += 1
    if not rows:
        raise GhnasError("--time-limit ran out before any architecture was scored")
    if is_main_process():
        store.write_csv()  # also when the time limit cut the run: the table of what was scored
    seconds = {k: max(s[k] for s in all_gather_object(seconds)) for k in seconds}
    timing = {"ranked_this_run": scored, "ghn_scoring_seconds": seconds["ghn"],
              "baseline_seconds": seconds["baselines"]}  # fmt: skip
    for name in scorers:
        rate = stored_rate(rows.values(), name)
        timing["ranking_archs_per_s" if name == "ghn" else f"{name}_archs_per_s"] = rate
    return rows, timing


def stored_rate(rows, name: str) -> float:
    """Architectures per second one process scores with ``name``, over every row that holds its
    time: rows of earlier runs count too, so a resumed run that scores nothing keeps the figure.
    NaN when no row holds it (rows written before rows were timed)."""
    spent = [r["scoring_seconds"][name] for r in rows if name in r.get("scoring_seconds", {})]
    return len(spent) / sum(spent) if spent and sum(spent) > 0 else math.nan


def score_chunk(chunk, scorers, baselines, seconds) -> List[Dict]:
    """The rows of one chunk of ``(index, arch)``; adds each part's time to ``seconds``."""
    results, ghn, per_arch = {}, scorers["ghn"], {}
    for name, scorer in scorers.items():
        start = time.perf_counter()
        results[name] = scorer.evaluate_chunk([a for _, a in chunk])
        synchronize(scorer.batches[0][0].device)
        spent = time.perf_counter() - start
        seconds[name] += spent
        per_arch[name] = spent / len(chunk)  # the chunk's architectures share one pass
    start, rows = time.perf_counter(), []
    for k, (index, arch) in enumerate(chunk):
        values, spent = baselines.score(arch)
        row = {"arch": arch.to_dict(), "hash": arch.canonical_hash, **results["ghn"][k],
               "params": count_parameters(ghn.space, arch),
               "flops": ghn.space.analytic_flops(arch), "arch_index": index,
               "baselines": values, "baseline_seconds": spent,
               "scoring_seconds": per_arch}  # fmt: skip
        row.update({name: results[name][k] for name in scorers if name != "ghn"})
        rows.append(row)
    seconds["baselines"] += time.perf_counter() - start
    return rows


def estimator_row(name, predicted, truth, keys, cost, resamples: int, seed: int) -> Dict:
    """One estimator's τ-b, ρ, r over all and the true top half, precision@5%, and the 95%
    bootstrap interval of τ (all). Undefined scores rank last (:func:`rankable`)."""
    predicted = rankable(predicted)
    k = max(1, round(0.05 * len(truth)))
    every, half = correlations(predicted, truth), top_half_correlations(predicted, truth, keys)
    low, high = bootstrap_interval(
        lambda x, y, _: correlations(x, y)["kendall"], predicted, truth, keys,
        resamples=resamples, seed=seed,
    )  # fmt: skip
    row = {"estimator": name, "cost": cost}
    row.update({f"{m} (all)": every[m] for m in METRICS})
    row["kendall (all) 95%"] = f"[{low:.3f}, {high:.3f}]"
    row.update({f"{m} (top half)": half[m] for m in METRICS})
    row["precision@5%"] = precision_at_k(predicted, truth, keys, k)
    return row


def summarise_seeds(seeds: Sequence[int], reports: Sequence[Dict], view="estimators") -> List:
    """Per estimator: τ (all) on each seed, then mean ± sd over seeds of each summary column."""
    rows = []
    for first in reports[0][view]:
        name = first["estimator"]
        per_seed = [next(r for r in report[view] if r["estimator"] == name) for report in reports]
        row = {"estimator": first["estimator"]}
        row.update({f"τ seed {s}": r["kendall (all)"] for s, r in zip(seeds, per_seed)})
        for column in SUMMARY_COLUMNS:
            values = np.array([r[column] for r in per_seed], dtype=float)
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            row[column] = f"{values.mean():.3f} ± {sd:.3f}"
        rows.append(row)
    return rows


def formatted(rows: Sequence[Dict]) -> List[Dict]:
    """Floats to three decimals for printing (NaN shown as is)."""
    return [
        {k: (f"{v:.3f}" if isinstance(v, float) and not math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]


def baseline_network(text: str):
    """``--baseline-network C,N``: channels and cells per stage of the baselines' networks."""
    try:
        channels, cells = (int(v) for v in text.split(","))
    except ValueError:
        raise GhnasError(f"--baseline-network must be 'C,N' (e.g. 16,5), got {text!r}") from None
    return channels, cells


def isomorphs_met(cfg, splits, strings, table, indices) -> int:
    """How many scored architectures had an isomorph among the GHN's training draws, found by
    replaying the trainer's seeded architecture stream."""
    training_space = build_search_space(cfg, splits.meta, training=True)
    replay = np.random.default_rng([cfg.SEED, 1])  # the GHN trainer's architecture stream
    by_string = {s[0]: i for i, s in strings.items()}
    seen = {table[by_string[training_space.sample(replay).to_string()]][2]
            for _ in range(cfg.SOLVER.MAX_ITER * cfg.GHN.META_BATCH)}  # fmt: skip
    return sum(table[i][2] in seen for i in indices)


def print_report(report: dict) -> None:
    """The run's speeds and both tables."""
    rate, plain = report["ranking_archs_per_s"], report["plain_forward_archs_per_s"]
    plain_cl = report["plain_forward_channels_last_archs_per_s"]
    trained = report.get("one_shot_training_seconds")
    one_shot = f", one-shot supernet {trained:.0f} s" if trained is not None else ""
    print(f"{report['num_archs']} architectures ({report['num_unique']} isomorphism classes); "
          f"GHN trained {report['ghn_training_seconds']:.0f} s"
          f"{one_shot}; "
          f"{report['isomorphs_met_in_training']} scored architectures had an isomorph in GHN "
          f"training; baselines took {report['baseline_seconds']:.0f} s")  # fmt: skip
    print(f"ranking (weight generation + evaluation): {rate:.1f} archs/s over "
          f"{report['ranked_this_run']}; plain forward over "
          f"{report['plain_forward_archs_measured']}: {plain:.1f} archs/s ({rate / plain:.2f}x), "
          f"channels-last {plain_cl:.1f} archs/s ({rate / plain_cl:.2f}x)")  # fmt: skip
    print(tabulate(formatted(report["estimators"]), headers="keys", tablefmt="github"))
    print(f"one architecture per isomorphism class ({report['num_unique']}):")
    print(tabulate(formatted(report["estimators_unique"]), headers="keys", tablefmt="github"))
    checkpoints = report.get("checkpoints")
    if checkpoints:
        print(f"GHN checkpoints on the same architectures (τ spread "
              f"{checkpoints['kendall spread']:.3f}):")  # fmt: skip
        print(tabulate(formatted(checkpoints["rows"]), headers="keys", tablefmt="github"))
