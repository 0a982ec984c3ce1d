"""One generic ablation sweep of the correlation benchmark (Figure 5a/5b, Table 5).

``ABLATION.KEY`` names one config key, or several joined by commas; ``ABLATION.VALUES`` holds one
value per run (a list per run for several keys). Each run is the whole correlation benchmark
with its own GHN under ``OUTPUT_DIR/ablation/<KEY=value>/``; all runs share one ground-truth
cache, so the architectures are trained once. The sweep ends with ``ablation/summary.md`` and
``ablation/correlation.png``: correlation against the last key's value, one line per value of
the other keys.
"""

import json
import logging
import os
from typing import Any, Dict, List, Sequence, Tuple

from tabulate import tabulate

from ghnas.engine.defaults import check_values
from ghnas.engine.distributed import is_main_process
from ghnas.evaluation.correlation import CorrelationBenchmark
from ghnas.evaluation.correlation_report import CORRELATION_COLUMNS, with_interval
from ghnas.evaluation.plots import plot_sweep
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

logger = logging.getLogger("ghnas")

# Keys a sweep may not vary: the runs share one dataset and one ground-truth set.
_FIXED_SECTIONS = ("DATASETS", "INPUT", "CORRELATION", "ABLATION")
_FIXED_KEYS = (
    "OUTPUT_DIR",
    "SEED",
    "SEARCH_SPACE.NAME",
    "SEARCH_SPACE.NUM_NODES",
    "SEARCH_SPACE.NUM_BLOCKS",
    "MODEL.INIT_CHANNELS",
)


def sweep_settings(cfg) -> Tuple[List[str], List[Tuple[Any, ...]]]:
    """The swept keys and one tuple of values per run, checked."""
    keys = [k.strip() for k in cfg.ABLATION.KEY.split(",") if k.strip()]
    if not keys:
        raise GhnasError("ABLATION.KEY is empty: name the config key to vary")
    for key in keys:
        if key.split(".")[0] in _FIXED_SECTIONS or key in _FIXED_KEYS:
            raise GhnasError(
                f"ABLATION.KEY: {key} cannot vary within a sweep (its runs share the dataset, "
                "the architectures and their ground truth)"
            )
    values = list(cfg.ABLATION.VALUES)
    if not values:
        raise GhnasError(f"ABLATION.VALUES is empty: give the values of {cfg.ABLATION.KEY}")
    runs = []
    for value in values:
        run = tuple(value) if len(keys) > 1 and isinstance(value, (list, tuple)) else (value,)
        if len(run) != len(keys):
            raise GhnasError(
                f"ABLATION.VALUES: {value!r} does not give one value for each of {keys}"
            )
        runs.append(run)
    return keys, runs


def member_config(cfg, keys: Sequence[str], values: Sequence[Any], cache_dir: str):
    """The config of one run: the swept values, its own OUTPUT_DIR, the shared cache."""
    member = cfg.clone()
    member.defrost()
    pairs = [item for kv in zip(keys, values) for item in kv]
    member.merge_from_list(pairs)  # unknown keys and wrong types fail here, in one line
    member.OUTPUT_DIR = os.path.join(cfg.OUTPUT_DIR, "ablation", run_name(keys, values))
    member.CORRELATION.CACHE_DIR = cache_dir
    # The sweep reports the GHN alone: the zero-cost estimators (seconds per architecture, the
    # same values in every member) belong to the main study's table.
    member.ZERO_COST.ESTIMATORS = []
    member.ABLATION.KEY, member.ABLATION.VALUES = "", []
    check_values(member)
    member.freeze()
    return member


def run_name(keys: Sequence[str], values: Sequence[Any]) -> str:
    """Directory name of a run, e.g. ``GHN.NUM_PASSES=3``."""
    return ",".join(f"{k}={v}" for k, v in zip(keys, values))


def ablation_members(cfg):
    """The swept keys, their value combinations and one checked config per combination."""
    keys, runs = sweep_settings(cfg)
    if cfg.CORRELATION.GHN_CHECKPOINT:
        raise GhnasError(
            "CORRELATION.GHN_CHECKPOINT is set, but an ablation trains one GHN per value; clear it"
        )
    cache_dir = cfg.CORRELATION.CACHE_DIR or os.path.join(
        cfg.OUTPUT_DIR, "correlation", "ground_truth"
    )
    return keys, runs, [member_config(cfg, keys, values, cache_dir) for values in runs]


def check_ablation(cfg, splits) -> None:
    """Every member's settings, before anything is written."""
    for member in ablation_members(cfg)[2]:
        CorrelationBenchmark.from_config(member, splits)


def run_ablation(cfg, splits, resume: bool = False) -> List[Dict[str, Any]]:
    """Run the benchmark once per value; write the summary table and plot."""
    keys, runs, members = ablation_members(cfg)
    results = []
    for i, (values, member) in enumerate(zip(runs, members), 1):
        logger.info(f"ablation [{i}/{len(runs)}]: {run_name(keys, values)}")
        summary = CorrelationBenchmark.from_config(member, splits).run(resume=resume)
        results.append({"values": list(values), "ghn": summary["estimators"]["GHN"]})
    if is_main_process():
        write_summary(cfg, keys, results)
    return results


def write_summary(cfg, keys: Sequence[str], results: List[Dict[str, Any]]) -> str:
    """``ablation/summary.md``, ``summary.json`` and ``correlation.png``."""
    directory = os.path.join(cfg.OUTPUT_DIR, "ablation")
    PathManager.mkdirs(directory)
    rows = []
    for result in results:
        ghn = result["ghn"]
        cells = [with_interval(ghn[col], ghn["intervals"][col]) for col in CORRELATION_COLUMNS]
        rows.append([*result["values"], *cells])
    headers = [*keys, *CORRELATION_COLUMNS.values()]
    table = tabulate(rows, headers=headers, tablefmt="github")
    text = f"# Ablation of {', '.join(keys)} (GHN correlation with the ground truth)\n\n{table}\n"
    with PathManager.open(os.path.join(directory, "summary.md"), "w") as f:
        f.write(text)
    with PathManager.open(os.path.join(directory, "summary.json"), "w") as f:
        json.dump({"keys": list(keys), "runs": results}, f, indent=2)
    # x: the last key's values; one line per combination of the other keys.
    x_values = list(dict.fromkeys(r["values"][-1] for r in results))
    series_names = list(dict.fromkeys(run_name(keys[:-1], r["values"][:-1]) for r in results))
    panels = {}
    for title, prefix in (("all architectures", ""), ("top half", "top_half_")):
        panel = {}
        for name in series_names:
            found = {
                r["values"][-1]: r["ghn"][f"{prefix}pearson"]
                for r in results
                if run_name(keys[:-1], r["values"][:-1]) == name
            }
            panel[name] = [found.get(x, float("nan")) for x in x_values]
        panels[f"Pearson r, {title}"] = panel
    picture = plot_sweep(
        os.path.join(directory, "correlation.png"),
        x_values,
        panels,
        xlabel=keys[-1],
        title=f"GHN correlation vs {', '.join(keys)}",
    )
    logger.info(f"ablation: drew {picture}\n{text}")
    return text
