"""The "search" phase: random search ranked by a trained GHN (section 4, Figure 1).

Draw ``SEARCH.NUM_ARCHS`` architectures with distinct hashes (seeded), score each with the
selection criterion on a fixed validation subset using GHN-generated weights, append every score
to ``search/results.jsonl`` as it comes (the header in ``search/results_meta.json``, the same rows
as a table in ``search/results.csv`` at the end: see ``result_store``), and write the top
``SEARCH.TOP_K`` to ``search/top.md``.
With ``SEARCH.UNTRAINED_BASELINE`` every architecture is also scored by the GHN as initialised
before training, to show what training bought.

Under torchrun the candidates' chunks are sharded across ranks (strided: rank ``r`` scores chunks
``r, r + N, ...``, see :func:`ghnas.engine.distributed.shard`). After each round of N chunks the
rows are gathered on every rank; rank 0 appends them to ``results.jsonl`` in candidate order and
writes ``top.md``, and every rank returns the same ranked rows, so every rank selects the same
architecture. On resume rank 0 reads ``results.jsonl`` and broadcasts the rows already there.
"""

import hashlib
import json
import logging
import os
import time
from typing import Any, Dict, List

import torch

from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.engine.distributed import (
    all_gather_object,
    get_world_size,
    is_main_process,
    on_main_process,
    shard,
    synchronize,
)
from ghnas.engine.progress import Progress
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import (
    check_split,
    final_checkpoint_path,
    load_ghn_weights,
    read_checkpoint,
)
from ghnas.search.candidates import sample_distinct
from ghnas.search.report import rank_rows, write_report
from ghnas.search.result_store import ResultStore
from ghnas.search.scoring import ArchitectureScorer, check_eval_images, scoring_batches
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.selection.constraints import FlopRange
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, write_atomically

logger = logging.getLogger("ghnas")

MAX_CANDIDATES = 1_000_000  # drawn and hashed up front: more would take hours before a score


def _ghn_finished(cfg) -> bool:
    """Whether the GHN phase of OUTPUT_DIR has trained to SOLVER.MAX_ITER (its final file)."""
    return PathManager.exists(final_checkpoint_path(cfg.OUTPUT_DIR))


def state_fingerprint(module: torch.nn.Module) -> str:
    """Short SHA-256 of a module's state: tells whether two runs ranked with the same GHN."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def count_parameters(space, arch) -> int:
    """Parameters of ``space.build_network(arch)``, BN affine included (built on meta)."""
    with torch.device("meta"):
        return sum(p.numel() for p in space.build_network(arch).parameters())


class RandomSearch:
    """Scores a seeded candidate list with one or two scorers and keeps the results."""

    def __init__(
        self,
        *,
        space,
        scorer,
        baseline_scorer,
        store,
        num_archs,
        top_k,
        seed,
        output_dir,
        criterion_name,
        train_seconds=None,
        accept=None,
    ) -> None:
        self.space, self.scorer, self.baseline_scorer = space, scorer, baseline_scorer
        self.store, self.num_archs, self.top_k, self.seed = store, num_archs, top_k, seed
        self.output_dir, self.criterion_name = output_dir, criterion_name
        self.train_seconds = train_seconds
        self.accept = accept  # a predicate candidates must pass (SEARCH.CONSTRAINTS), or None

    @classmethod
    def check_config(cls, cfg, splits, *, resume: bool = False, ghn_trains: bool = False) -> None:
        """Every check of the SEARCH.* settings, before anything is written; resuming, also
        that the results file continues this search (when its GHN is trained already)."""
        for key in ("NUM_ARCHS", "TOP_K", "EVAL_IMAGES", "EVAL_BATCH_SIZE", "ARCH_BATCH"):
            if cfg.SEARCH[key] < 1:
                raise GhnasError(f"SEARCH.{key} must be >= 1, got {cfg.SEARCH[key]}")
        if cfg.SEARCH.NUM_ARCHS > MAX_CANDIDATES:
            raise GhnasError(
                f"SEARCH.NUM_ARCHS={cfg.SEARCH.NUM_ARCHS}: at most {MAX_CANDIDATES:,} candidates "
                "per search (the candidate list is drawn and held up front); split the search"
            )
        check_eval_images(cfg, splits)
        FlopRange.from_config(cfg, build_search_space(cfg, splits.meta))
        explicit = cfg.SEARCH.GHN_CHECKPOINT
        path = explicit or final_checkpoint_path(cfg.OUTPUT_DIR)
        if explicit or (not ghn_trains and PathManager.exists(path)):  # a GHN trained before
            check_split(read_checkpoint(path, key="SEARCH.GHN_CHECKPOINT" if explicit else ""),
                        cfg, path)  # fmt: skip
        results = os.path.join(cfg.OUTPUT_DIR, "search", "results.jsonl")
        if resume and PathManager.exists(results) and PathManager.exists(path):
            # A GHN still training would change the fingerprint; check what will be scored.
            if explicit or not ghn_trains or _ghn_finished(cfg):
                cls.from_config(cfg, splits).store.existing_rows(resume=True, repair=False)

    @classmethod
    def from_config(cls, cfg, splits) -> "RandomSearch":
        """Load the trained GHN and set up the candidates' evaluation."""
        space = build_search_space(cfg, splits.meta)
        flop_range = FlopRange.from_config(cfg, space)
        batches = scoring_batches(cfg, splits)
        criterion = build_criterion(cfg)
        torch.manual_seed(cfg.SEED)  # the same initialisation the GHN trainer starts from
        untrained = build_ghn(cfg, space)
        trained = build_ghn(cfg, space)
        path = cfg.SEARCH.GHN_CHECKPOINT or final_checkpoint_path(cfg.OUTPUT_DIR)
        checkpoint = load_ghn_weights(trained, path, cfg, space)
        scorer_args = dict(
            space=space, criterion=criterion, batches=batches, fused=cfg.MODEL.FUSED_NETWORKS
        )
        header = {
            "space": space.name,
            "criterion": cfg.SEARCH.CRITERION,
            "eval_images": sum(int(y.numel()) for _, y in batches),
            "eval_batch_size": cfg.SEARCH.EVAL_BATCH_SIZE,
            "seed": cfg.SEED,
            "split": dataset_fingerprint(cfg),
            "num_archs": cfg.SEARCH.NUM_ARCHS,
            "space_settings": space.describe(),
            "untrained_baseline": cfg.SEARCH.UNTRAINED_BASELINE,
            # Which GHN scored, and how candidates were packed: a resumed search must match.
            "arch_batch": cfg.SEARCH.ARCH_BATCH,
            "ghn_fingerprint": state_fingerprint(trained),
            # The candidate list depends on the constraint (absent: none, as before it existed).
            **({"flop_constraint": flop_range.bounds()} if flop_range is not None else {}),
        }
        return cls(
            space=space,
            scorer=ArchitectureScorer(ghn=trained, arch_batch=cfg.SEARCH.ARCH_BATCH, **scorer_args),
            baseline_scorer=ArchitectureScorer(
                ghn=untrained, arch_batch=cfg.SEARCH.ARCH_BATCH, **scorer_args
            )
            if cfg.SEARCH.UNTRAINED_BASELINE
            else None,
            store=ResultStore(os.path.join(cfg.OUTPUT_DIR, "search", "results.jsonl"), header),
            num_archs=cfg.SEARCH.NUM_ARCHS,
            top_k=cfg.SEARCH.TOP_K,
            seed=cfg.SEED,
            output_dir=cfg.OUTPUT_DIR,
            criterion_name=cfg.SEARCH.CRITERION,
            train_seconds=checkpoint.get("train_seconds"),
            accept=flop_range,
        )

    def run(self, resume: bool = False) -> List[Dict[str, Any]]:
        """Score every candidate not scored yet; return all rows, best first."""
        # Drawn before the results file is touched: a constraint nothing passes loses nothing.
        candidates = sample_distinct(
            self.space, self.num_archs, self.seed, accept=self.accept, accept_what=str(self.accept)
        )
        rows = on_main_process(lambda: self.open_store(resume))  # the rows done, on every rank
        done = {row["hash"] for row in rows}
        earlier = self.earlier_seconds() if rows else 0.0
        if rows:
            logger.info(f"search: resuming with {len(rows)} architectures already scored")
        metrics = os.path.join(self.output_dir, "metrics.jsonl")
        progress = Progress(
            phase="search",
            total=self.num_archs,
            done=len(rows),
            metrics_path=metrics if is_main_process() else None,
        )
        started, scored = time.perf_counter(), 0
        pending = [
            chunk
            for chunk in self.scorer.chunks(candidates)
            if any(arch.canonical_hash not in done for arch in chunk)
        ]
        mine, world = shard(pending), get_world_size()
        # Every rank goes through the same number of rounds (the last one may leave some ranks
        # without a chunk), so that each gather is entered by all of them.
        for round_ in range((len(pending) + world - 1) // world):
            new = self.score_chunk(mine[round_], done) if round_ < len(mine) else []
            gathered = all_gather_object(new)  # rank order is candidate order within a round
            for row in (row for rows_of_rank in gathered for row in rows_of_rank):
                if is_main_process():
                    self.store.append(row)
                rows.append(row)
                scored += 1
            if is_main_process():
                self.save_seconds(earlier + time.perf_counter() - started)
            progress.log(len(rows), scored, best=max(r["score"] for r in rows))
        seconds = round(earlier + time.perf_counter() - started, 3)  # as seconds.json keeps it
        if is_main_process():  # the same total in seconds.json and in top.md
            self.save_seconds(seconds)
            self.report(rows, seconds, resumed=resume and scored < len(rows))
        synchronize()  # later phases read results.jsonl: rank 0 must have finished writing it
        return rank_rows(rows)

    def seconds_path(self) -> str:
        """``search/seconds.json``: the search's wall time so far, summed over invocations."""
        return os.path.join(os.path.dirname(self.store.path), "seconds.json")

    def earlier_seconds(self) -> float:
        """Wall time the rows already scored took (0 when it was never recorded)."""
        try:
            with PathManager.open(self.seconds_path()) as f:
                return float(json.load(f)["search_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def save_seconds(self, seconds: float) -> None:
        write_atomically(self.seconds_path(), json.dumps({"search_seconds": round(seconds, 3)}))

    def open_store(self, resume: bool) -> List[Dict[str, Any]]:
        """Start the results files (or, resuming, read them): rank 0's part of :meth:`run`."""
        os.makedirs(os.path.dirname(self.store.path), exist_ok=True)
        return self.store.open(resume)

    def score_chunk(self, chunk, done) -> List[Dict[str, Any]]:
        """The rows of the architectures of ``chunk`` whose hash is not in ``done``."""
        todo = [i for i, arch in enumerate(chunk) if arch.canonical_hash not in done]
        networks = self.scorer.networks(chunk)  # shared by both scorers
        results = self.scorer.evaluate_chunk(chunk, networks)
        baseline = (
            self.baseline_scorer.score_chunk(chunk, networks) if self.baseline_scorer else None
        )
        return [self.row(chunk[i], results[i], baseline[i] if baseline else None) for i in todo]

    def row(self, arch, result: Dict[str, Any], untrained_score) -> Dict[str, Any]:
        """The results.jsonl line of one architecture (the criterion may add or refine fields)."""
        row = {
            "arch": arch.to_dict(),
            "hash": arch.canonical_hash,
            "params": count_parameters(self.space, arch),
            "flops": self.space.analytic_flops(arch),
            **result,
        }
        if untrained_score is not None:
            row["score_untrained_ghn"] = untrained_score
        return row

    def report(self, rows, seconds: float, resumed: bool) -> None:
        """Log the table, write ``search/top.md`` and ``search/results.csv``."""
        self.store.write_csv()
        timings = {}
        if self.train_seconds is not None:
            timings["GHN training wall time"] = f"{self.train_seconds:.1f} s"
        note = " (over every invocation of a resumed search)" if resumed else ""
        timings["search wall time"] = f"{seconds:.1f} s{note}"
        path = os.path.join(self.output_dir, "search", "top.md")
        table = write_report(
            path, rows, self.top_k, self.criterion_name, timings, self.store.header
        )
        ranked = rank_rows(rows)
        directory = os.path.dirname(path)
        pictures = self.space.draw(self.space.architecture_from_dict(ranked[0]["arch"]), directory)
        plot_top = getattr(self.scorer.criterion, "plot_top", None)  # optional for a criterion
        if plot_top is not None:
            pictures += plot_top(ranked, directory)
        logger.info(f"search: top {self.top_k} of {len(rows)} architectures\n{table}")
        logger.info(f"search: results in {self.store.path}, table in {path}")
        for picture in pictures:
            logger.info(f"search: drew {picture}")
