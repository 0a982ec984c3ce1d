"""The ``accuracy`` criterion: validation accuracy with generated weights, in [0, 1]."""

from typing import Dict, List, Tuple

import torch
from torch import nn

from ghnas.layers.batch_statistics import (
    run_fused_with_generated_weights,
    run_with_generated_weights,
)
from ghnas.selection.build import SELECTION_REGISTRY


class AccuracyCriterion:
    """Fraction of the evaluation images classified correctly.

    BatchNorm uses each batch's statistics (the GHN generates no BN affine and no running
    statistics), so the score depends on the batch size, which is why the search fixes it.
    """

    needs_early_exits = False

    def __init__(self, *, amp_dtype: str = "none") -> None:
        self.amp_dtype = amp_dtype

    @torch.no_grad()
    def evaluate(
        self,
        network: nn.Module,
        params: Dict[str, torch.Tensor],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> Dict[str, float]:
        """``{"score": accuracy}`` of ``network`` with ``params`` over ``batches``."""
        correct, total = 0, 0
        for x, y in batches:
            logits = run_with_generated_weights(network, params, x, self.amp_dtype)
            correct += int((logits.argmax(1) == y).sum())
            total += int(y.numel())
        return {"score": correct / max(total, 1)}

    @torch.no_grad()
    def evaluate_fused(
        self,
        fused: nn.Module,
        params: List[Dict[str, torch.Tensor]],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> List[Dict[str, float]]:
        """:meth:`evaluate` of every network of a space's fused network, in one pass per batch."""
        correct, total = torch.zeros(len(params), dtype=torch.long), 0
        for x, y in batches:
            logits = run_fused_with_generated_weights(fused, params, x, self.amp_dtype)
            correct += (logits.argmax(2) == y).sum(1).cpu()
            total += int(y.numel())
        return [{"score": int(c) / max(total, 1)} for c in correct]


@SELECTION_REGISTRY.register()
def accuracy(cfg) -> AccuracyCriterion:
    """Validation accuracy (the paper's search signal for classification)."""
    return AccuracyCriterion(amp_dtype=cfg.MODEL.AMP_DTYPE)
