"""The "search" phase: random search ranked by a trained GHN (section 4, Figure 1).

Draw ``SEARCH.NUM_ARCHS`` architectures with distinct hashes (seeded), score each with the
selection criterion on a fixed validation subset using GHN-generated weights, append every score
to ``search/results.jsonl`` as it comes, and write the top ``SEARCH.TOP_K`` to ``search/top.md``.
With ``SEARCH.UNTRAINED_BASELINE`` every architecture is also scored by the GHN as initialised
before training, to show what training bought.
"""

import hashlib
import logging
import os
import time
from typing import Any, Dict, List

import torch

from ghnas.data import evaluation_batches
from ghnas.engine.progress import Progress
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights
from ghnas.search.candidates import sample_distinct
from ghnas.search.report import rank_rows, write_report
from ghnas.search.result_store import ResultStore
from ghnas.search.scoring import ArchitectureScorer
from ghnas.search_spaces import build_search_space
from ghnas.selection import build_criterion
from ghnas.utils.errors import GhnasError

logger = logging.getLogger("ghnas")


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
    ) -> None:
        self.space, self.scorer, self.baseline_scorer = space, scorer, baseline_scorer
        self.store, self.num_archs, self.top_k, self.seed = store, num_archs, top_k, seed
        self.output_dir, self.criterion_name = output_dir, criterion_name
        self.train_seconds = train_seconds

    @classmethod
    def from_config(cls, cfg, splits) -> "RandomSearch":
        """Load the trained GHN and set up the candidates' evaluation."""
        for key in ("NUM_ARCHS", "TOP_K", "EVAL_IMAGES", "EVAL_BATCH_SIZE", "ARCH_BATCH"):
            if cfg.SEARCH[key] < 1:
                raise GhnasError(f"SEARCH.{key} must be >= 1, got {cfg.SEARCH[key]}")
        space = build_search_space(cfg, splits.meta)
        batches = evaluation_batches(
            dataset=splits.val,
            meta=splits.meta,
            num_images=cfg.SEARCH.EVAL_IMAGES,
            batch_size=cfg.SEARCH.EVAL_BATCH_SIZE,
            seed=cfg.SEED,
            device=cfg.MODEL.DEVICE,
        )
        criterion = build_criterion(cfg)
        torch.manual_seed(cfg.SEED)  # the same initialisation the GHN trainer starts from
        untrained = build_ghn(cfg, space)
        trained = build_ghn(cfg, space)
        path = cfg.SEARCH.GHN_CHECKPOINT or final_checkpoint_path(cfg.OUTPUT_DIR)
        checkpoint = load_ghn_weights(trained, path, cfg, space)
        scorer_args = dict(space=space, criterion=criterion, batches=batches)
        header = {
            "space": space.name,
            "criterion": cfg.SEARCH.CRITERION,
            "eval_images": sum(int(y.numel()) for _, y in batches),
            "eval_batch_size": cfg.SEARCH.EVAL_BATCH_SIZE,
            "seed": cfg.SEED,
            "space_settings": space.describe(),
            "untrained_baseline": cfg.SEARCH.UNTRAINED_BASELINE,
            # Which GHN scored, and how candidates were packed: a resumed search must match.
            "arch_batch": cfg.SEARCH.ARCH_BATCH,
            "ghn_fingerprint": state_fingerprint(trained),
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
        )

    def run(self, resume: bool = False) -> List[Dict[str, Any]]:
        """Score every candidate not scored yet; return all rows, best first."""
        os.makedirs(os.path.dirname(self.store.path), exist_ok=True)
        rows = self.store.open(resume)
        done = {row["hash"] for row in rows}
        if rows:
            logger.info(f"search: resuming with {len(rows)} architectures already scored")
        candidates = sample_distinct(self.space, self.num_archs, self.seed)
        progress = Progress(
            phase="search",
            total=self.num_archs,
            done=len(rows),
            metrics_path=os.path.join(self.output_dir, "metrics.jsonl"),
        )
        started, scored = time.perf_counter(), 0
        for chunk in self.scorer.chunks(candidates):
            todo = [i for i, arch in enumerate(chunk) if arch.canonical_hash not in done]
            if not todo:
                continue
            networks = self.scorer.networks(chunk)  # shared by both scorers
            results = self.scorer.evaluate_chunk(chunk, networks)
            baseline = (
                self.baseline_scorer.score_chunk(chunk, networks) if self.baseline_scorer else None
            )
            for i in todo:
                row = self.row(chunk[i], results[i], baseline[i] if baseline else None)
                self.store.append(row)
                rows.append(row)
                scored += 1
            progress.log(len(rows), scored, best=max(r["score"] for r in rows))
        seconds = time.perf_counter() - started
        self.report(rows, seconds, resumed=resume and scored < len(rows))
        return rank_rows(rows)

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
        """Log the table and write ``search/top.md``."""
        timings = {}
        if self.train_seconds is not None:
            timings["GHN training wall time"] = f"{self.train_seconds:.1f} s"
        note = " (this invocation; resumed)" if resumed else ""
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
