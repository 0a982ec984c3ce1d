"""The ``anytime_auc`` criterion: area under the accuracy-vs-FLOPs curve of an early-exit network.

Anytime prediction (section 5.2): a test case may be stopped at any budget b; the prediction
available then is that of the last exit whose cumulative FLOPs are <= b, and there is none (an
accuracy of 0) before the first exit. With B = ``ANYTIME.FLOP_BUDGET``,

    AUC = (1 / B) ∫_0^B accuracy(b) db   ∈ [0, 1],

so a network scores well when it is accurate early and keeps improving within the budget. Exits
beyond B contribute nothing. The network must return one logits tensor per exit (in execution
order) and report ``cumulative_exit_flops()`` and ``arch.exits``.
"""

import os
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

from ghnas.layers.batch_statistics import run_with_generated_weights
from ghnas.selection.build import SELECTION_REGISTRY
from ghnas.utils.errors import GhnasError
from ghnas.utils.visualization import plot_accuracy_vs_flops


def area_under_anytime_curve(
    exit_flops: Sequence[float], exit_accuracy: Sequence[float], budget: float
) -> float:
    """Normalised area under the step curve accuracy(b) for b in [0, ``budget``]."""
    if budget <= 0:
        raise GhnasError(f"ANYTIME.FLOP_BUDGET must be > 0, got {budget}")
    if len(exit_flops) != len(exit_accuracy) or not exit_flops:
        raise GhnasError("each exit needs one FLOP count and one accuracy")
    if list(exit_flops) != sorted(exit_flops):
        raise GhnasError(f"exit FLOPs must be non-decreasing, got {list(exit_flops)}")
    area = 0.0
    ends = list(exit_flops[1:]) + [budget]
    for start, end, accuracy in zip(exit_flops, ends, exit_accuracy):
        area += accuracy * max(0.0, min(end, budget) - start)
    return area / budget


@torch.no_grad()
def exit_records(network: nn.Module, run: Callable, batches) -> List[Dict[str, Any]]:
    """``{node, flops, acc}`` of every exit of an early-exit ``network`` over ``batches``.

    ``run(x)`` returns the list of exit logits (with generated weights, or the network's own).
    """
    correct, total = exit_hits(run, batches)
    return records_from_hits(network, correct, total)


def exit_hits(run: Callable, batches) -> Tuple[List[int], int]:
    """Correct predictions of every exit over ``batches`` and the number of images (counts,
    so that shares of the batches scored apart add up exactly)."""
    correct, total = None, 0
    for x, y in batches:
        hits = torch.stack([(out.argmax(1) == y).sum() for out in run(x)])
        correct = hits if correct is None else correct + hits
        total += int(y.numel())
    return ([] if correct is None else correct.tolist()), total


def records_from_hits(network: nn.Module, correct: List[int], total: int) -> List[Dict[str, Any]]:
    """``{node, flops, acc}`` of every exit from its correct predictions out of ``total``."""
    accuracy = (torch.tensor(correct, dtype=torch.float64) / max(total, 1)).tolist()
    flops = network.cumulative_exit_flops()
    return [
        {"node": int(node), "flops": int(f), "acc": a}
        for node, f, a in zip(network.arch.exits, flops, accuracy)
    ]


class AnytimeAUCCriterion:
    """Per-exit accuracy with generated weights, summarised by the area under the curve."""

    needs_early_exits = True

    def __init__(self, *, flop_budget: float, amp_dtype: str = "none") -> None:
        self.flop_budget = flop_budget
        self.amp_dtype = amp_dtype

    @torch.no_grad()
    def evaluate(
        self,
        network: nn.Module,
        params: Dict[str, torch.Tensor],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> Dict[str, Any]:
        """``score`` (the AUC), ``flops`` (the last exit's) and ``exits``: node, flops, acc."""
        exits = exit_records(
            network,
            lambda x: run_with_generated_weights(network, params, x, self.amp_dtype),
            batches,
        )
        flops, accuracy = [e["flops"] for e in exits], [e["acc"] for e in exits]
        score = area_under_anytime_curve(flops, accuracy, self.flop_budget)
        return {"score": score, "flops": flops[-1], "exits": exits}

    def plot_top(self, rows: List[Dict[str, Any]], directory: str, k: int = 5) -> List[str]:
        """``curves.png``: predicted accuracy-vs-FLOPs curves of the ``k`` best rows."""
        curves = [
            {
                "label": f"#{rank} {row['hash'][:8]} (AUC {row['score']:.3f})",
                "flops": [e["flops"] for e in row["exits"]],
                "accuracy": [e["acc"] for e in row["exits"]],
            }
            for rank, row in enumerate(rows[:k], start=1)
        ]
        path = os.path.join(directory, "curves.png")
        title = "Predicted anytime curves (GHN weights) of the top architectures"
        return [plot_accuracy_vs_flops(path, curves, budget=self.flop_budget, title=title)]


@SELECTION_REGISTRY.register()
def anytime_auc(cfg) -> AnytimeAUCCriterion:
    """Area under the accuracy-FLOPs curve up to ``ANYTIME.FLOP_BUDGET`` (anytime prediction)."""
    return AnytimeAUCCriterion(flop_budget=cfg.ANYTIME.FLOP_BUDGET, amp_dtype=cfg.MODEL.AMP_DTYPE)
