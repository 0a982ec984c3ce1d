"""Does the ranking still swing? The GHN's earlier checkpoints scored on the same architectures.

The benchmark scores its whole sample with the final GHN. Here the two checkpoints before it
(``SOLVER.CHECKPOINT_PERIOD`` steps apart) score the first ``n`` architectures of the sample the
same way, and so do the final checkpoint's raw trained parameters where ``GHN.EMA_DECAY`` makes
the moving average the scoring weights. Their scores are cached in
``benchmark/checkpoints.json`` by checkpoint fingerprint, so a resumed run scores nothing twice.
"""

import glob
import json
import os
from typing import Dict, List, Sequence

from ghnas.evaluation import correlations, top_half_correlations
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights, read_checkpoint
from ghnas.search import ArchitectureScorer
from ghnas.search.random_search import state_fingerprint
from ghnas.selection import build_criterion
from ghnas.utils.file_io import write_atomically

FINAL_LABEL = "final"


def last_checkpoints(output_dir: str, count: int = 3) -> List[str]:
    """Paths of the GHN's last ``count`` checkpoints of distinct iterations, oldest first; the
    final one is ``model_final.pth`` (a periodic save of its iteration is the same weights)."""
    final = final_checkpoint_path(output_dir)
    by_iteration = {read_checkpoint(final)["iteration"]: final}
    for path in glob.glob(os.path.join(os.path.dirname(final), "model_[0-9]*.pth")):
        by_iteration.setdefault(read_checkpoint(path)["iteration"], path)
    return [by_iteration[i] for i in sorted(by_iteration)[-count:]]


def checkpoint_label(path: str, iteration: int) -> str:
    """How a checkpoint is named in the report: its step count, or "final"."""
    name = os.path.basename(path)
    return FINAL_LABEL if name == "model_final.pth" else f"step {iteration + 1}"


def score_checkpoints(cfg, space, batches, indices: Sequence[int], archs, cache: str) -> Dict:
    """``{label: {"indices", "scores", "fingerprint"}}`` for the checkpoints before the final
    one (and the final one's raw parameters where the moving average scores). ``indices`` are
    the benchmark indices of ``archs``."""
    cached = json.load(open(cache)) if os.path.isfile(cache) else {}
    results, paths = {}, last_checkpoints(cfg.OUTPUT_DIR)
    variants = [(p, False) for p in paths[:-1]]
    if cfg.GHN.EMA_DECAY > 0:
        variants.append((paths[-1], True))
    for path, raw in variants:
        ghn = build_ghn(cfg, space)
        data = load_ghn_weights(ghn, path, cfg, space)
        if raw:
            ghn.load_state_dict(data["model"])
        label = checkpoint_label(path, data["iteration"]) + (" (raw, no EMA)" if raw else "")
        fingerprint, old = state_fingerprint(ghn), cached.get(label, {})
        if old.get("fingerprint") == fingerprint and old.get("indices") == list(indices):
            results[label] = old
            continue
        scorer = ArchitectureScorer(
            ghn=ghn, space=space, criterion=build_criterion(cfg), batches=batches,
            arch_batch=cfg.SEARCH.ARCH_BATCH, fused=cfg.MODEL.FUSED_NETWORKS,
        )  # fmt: skip
        scores = scorer.score(list(archs))
        results[label] = {"fingerprint": fingerprint, "indices": list(indices), "scores": scores}
        write_atomically(cache, json.dumps({**cached, **results}))
    return results


def checkpoint_table(results: Dict, final_scores: Dict[int, float], truth: Dict[int, float]):
    """τ (all and top half) of each checkpoint over its architectures, the final GHN's beside
    them over the same ones, and the spread (max − min) of τ over the checkpoints."""
    rows = []
    indices = next(iter(results.values()))["indices"] if results else sorted(final_scores)
    labelled = {**{k: v["scores"] for k, v in results.items()},
                FINAL_LABEL: [final_scores[i] for i in indices]}  # fmt: skip
    true = [truth[i] for i in indices]
    for label, scores in labelled.items():
        half = top_half_correlations(scores, true, indices)["kendall"]
        every = correlations(scores, true)["kendall"]
        rows.append({"checkpoint": label, "archs": len(indices), "kendall (all)": every,
                     "kendall (top half)": half})  # fmt: skip
    kept = [r["kendall (all)"] for r in rows if "raw" not in r["checkpoint"]]
    return {"rows": rows, "kendall spread": max(kept) - min(kept)}
