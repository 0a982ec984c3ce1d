"""The measurements of ``gpu_acceptance.py``, one function per section.

Every timer stops after a :func:`synchronize`, so queued GPU work is inside what it measures.
Each section first runs one untimed warm-up (first kernels, the allocator's first blocks), then
times until its work is done or its time budget has passed. The GHNs are freshly initialised
(seeded by ``SEED``): these are speeds, and an untrained GHN generates weights as fast as a
trained one.
"""

import dataclasses
import math
import time
from types import SimpleNamespace
from typing import Dict, Iterable, List, Sequence

import numpy as np
import torch
from nasbench201 import NB201Architecture
from nasbench201.ranking import plain_forward_rate, read_columns, synchronize

from ghnas.config import CfgNode
from ghnas.data import build_dataset, evaluation_batches
from ghnas.engine import config_from_args
from ghnas.ghn import build_ghn
from ghnas.layers.batch_statistics import autocast_context
from ghnas.search import ArchitectureScorer
from ghnas.search.scoring import scoring_batches
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.trainers import build_trainer
from ghnas.utils.errors import GhnasError


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much each section measures at most (``--tiny`` shrinks them all)."""

    test_images: int  # NAS-Bench-201: x_test images scored (0: all of them)
    scored_archs: int  # architectures a scoring section times, after its warm-up chunk
    plain_archs: int  # NAS-Bench-201 networks the plain forward is timed on
    train_iters: int  # timed GHN training steps (paper space, each AMP setting)
    anytime_iters: int  # timed GHN training steps of configs/anytime.yaml
    warmup_iters: int  # untimed training steps before those


def load_config(config_file: str, opts: Sequence) -> CfgNode:
    """The config the tools would build: defaults, plug-ins' keys, the file, the overrides."""
    args = SimpleNamespace(config_file=config_file, opts=[str(o) for o in opts])
    return config_from_args(args)


def with_values(cfg, **values):
    """A frozen copy of ``cfg`` with ``values`` ("SECTION__KEY": value) set."""
    cfg = cfg.clone()
    cfg.defrost()
    for name, value in values.items():
        section, key = name.split("__")
        cfg[section][key] = value
    cfg.freeze()
    return cfg


def bfloat16_or_none(device: torch.device) -> str:
    """``"bfloat16"`` where this device's autocast has it, else ``"none"`` (fp32)."""
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "none"
    return "bfloat16" if torch.amp.is_autocast_available(device.type) else "none"


def untrained_scorer(cfg, space, batches) -> ArchitectureScorer:
    """The search's scorer with a freshly initialised GHN (seeded like the trainer's)."""
    torch.manual_seed(cfg.SEED)
    return ArchitectureScorer(
        ghn=build_ghn(cfg, space), space=space, criterion=build_criterion(cfg), batches=batches,
        arch_batch=cfg.SEARCH.ARCH_BATCH, fused=cfg.MODEL.FUSED_NETWORKS,
    )  # fmt: skip


def timed_scoring(scorer: ArchitectureScorer, chunks: Iterable[List], budget: float):
    """(architectures, seconds) of whole scoring (graphs, weight generation, evaluation) over
    ``chunks`` after the first, which warms up; stops once ``budget`` seconds have passed.
    Drawing the next chunk is outside the timer, as it is outside the search's scoring."""
    chunks = iter(chunks)
    scorer.evaluate_chunk(next(chunks))
    synchronize(scorer.device)
    scored, seconds, deadline = 0, 0.0, time.perf_counter() + budget
    for chunk in chunks:
        start = time.perf_counter()
        scorer.evaluate_chunk(chunk)
        synchronize(scorer.device)
        seconds += time.perf_counter() - start
        scored += len(chunk)
        if time.perf_counter() > deadline:
            break
    if not scored:
        raise GhnasError("no architecture was timed: raise --time-budget or lower the sizes")
    return scored, seconds


def benchmark_architectures(table: str, seed: int) -> List[NB201Architecture]:
    """All 15,625 architectures of the table (its ``arch_str`` column, no accuracy), in a
    seeded order, so a cut-off run times a mix of the space rather than its first indices."""
    strings = read_columns(table, ["arch_str"])
    order = np.random.default_rng([seed, 201]).permutation(sorted(strings))
    return [NB201Architecture.from_string(strings[int(i)][0]) for i in order]


def nasbench201_section(cfg, table: str, sizes: Sizes, budget: float) -> Dict:
    """GHN scoring archs/s (fused network) on x_test, and the plain per-architecture forward of
    the same networks on the same images in fp32 (NCHW) and bf16 autocast channels-last."""
    splits = build_dataset(cfg)
    space = build_search_space(cfg, splits.meta)
    batches = evaluation_batches(
        dataset=splits.test, meta=splits.meta, num_images=sizes.test_images or len(splits.test),
        batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, seed=cfg.SEED, device=cfg.MODEL.DEVICE,
    )  # fmt: skip
    archs = benchmark_architectures(table, cfg.SEED)
    scorer = untrained_scorer(cfg, space, batches)
    timed = archs[: scorer.arch_batch + sizes.scored_archs]  # the first chunk warms up
    scored, seconds = timed_scoring(scorer, scorer.chunks(timed), budget)
    measured = archs[: sizes.plain_archs]
    dtype = bfloat16_or_none(scorer.device)
    fp32 = plain_forward_rate(space, measured, batches, False)
    with autocast_context(scorer.device, dtype):
        low = plain_forward_rate(space, measured, batches, True)
    return {
        "archs_per_s": scored / seconds, "archs": scored, "plain_fp32_archs_per_s": fp32,
        "plain_low_precision_archs_per_s": low, "plain_dtype": dtype,
        "plain_archs": len(measured), "images": sum(len(y) for _, y in batches),
        "network": f"C={cfg.NASBENCH201.CHANNELS} N={cfg.NASBENCH201.CELLS_PER_STAGE}",
    }  # fmt: skip


def paper_space_section(cfg, splits, sizes: Sizes, budget: float) -> Dict:
    """Seconds per architecture of scoring random architectures of the paper's space on
    ``SEARCH.EVAL_IMAGES`` validation images."""
    space = build_search_space(cfg, splits.meta)
    scorer = untrained_scorer(cfg, space, scoring_batches(cfg, splits))
    rng = np.random.default_rng([cfg.SEED, 17])
    count = 1 + math.ceil(sizes.scored_archs / scorer.arch_batch)  # the first warms up
    chunks = ([space.sample(rng) for _ in range(scorer.arch_batch)] for _ in range(count))
    scored, seconds = timed_scoring(scorer, chunks, budget)
    return {"seconds_per_arch": seconds / scored, "archs": scored,
            "images": cfg.SEARCH.EVAL_IMAGES, "train_nodes": cfg.GHN.TRAIN_NUM_NODES,
            "space": f"N={cfg.SEARCH_SPACE.NUM_NODES} B={cfg.SEARCH_SPACE.NUM_BLOCKS} "
                     f"F={cfg.MODEL.INIT_CHANNELS}"}  # fmt: skip


def training_section(cfg, splits, iterations: int, warmup: int, budget: float) -> Dict:
    """Steps/s of the project's GHN trainer (``GHN.TRAINER``): its own step (sampling,
    generation, forward, backward, clipping, Adam), ``warmup`` untimed steps first. The loop's
    logging and checkpoints are left out: they would time the disk, not the step."""
    splits = splits if splits is not None else build_dataset(cfg)
    trainer = build_trainer(cfg, splits, "GHN.TRAINER")
    trainer.ghn.train()
    device = torch.device(cfg.MODEL.DEVICE)
    for iteration in range(warmup):
        trainer.step(iteration)
    synchronize(device)
    start, steps = time.perf_counter(), 0
    while steps < iterations and time.perf_counter() < start + budget:
        trainer.step(warmup + steps)  # reads the loss back, so each step has finished
        steps += 1
    synchronize(device)
    if not steps:
        raise GhnasError("no GHN training step was timed: raise --time-budget")
    return {"steps_per_s": steps / (time.perf_counter() - start), "steps": steps,
            "amp_dtype": cfg.MODEL.AMP_DTYPE}  # fmt: skip
