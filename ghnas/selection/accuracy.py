"""The ``accuracy`` and ``expected_accuracy`` criteria: readings of the validation logits.

``accuracy`` is the fraction of images classified correctly. ``expected_accuracy`` is the mean
softmax probability of the true class: the accuracy a network would have if it answered by
sampling from its softmax. It lies in [0, 1] too, but moves with every image's confidence rather
than only with the images whose argmax flips. With generated weights and a few hundred images,
accuracy differences between architectures are of the order of single images, and the smoother
reading ranks more steadily from one GHN checkpoint to the next.
"""

from typing import Dict, List, Tuple

import torch
from torch import nn

from ghnas.layers.batch_statistics import (
    run_fused_with_generated_weights,
    run_with_generated_weights,
)
from ghnas.selection.build import SELECTION_REGISTRY


class AccuracyCriterion:
    """Accuracy over the evaluation images, or (``expected``) the mean true-class probability,
    with plain accuracy reported beside it as ``"accuracy"``.

    BatchNorm uses each batch's statistics (the GHN generates no BN affine and no running
    statistics), so the score depends on the batch size, which is why the search fixes it.
    """

    needs_early_exits = False

    def __init__(self, *, amp_dtype: str = "none", expected: bool = False) -> None:
        self.amp_dtype = amp_dtype
        self.expected = expected

    @torch.no_grad()
    def evaluate(
        self,
        network: nn.Module,
        params: Dict[str, torch.Tensor],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> Dict[str, float]:
        """``{"score": ...}`` of ``network`` with ``params`` over ``batches``."""
        logits = [
            run_with_generated_weights(network, params, x, self.amp_dtype).unsqueeze(0)
            for x, _ in batches
        ]
        return self.readings(logits, [y for _, y in batches])[0]

    @torch.no_grad()
    def evaluate_fused(
        self,
        fused: nn.Module,
        params: List[Dict[str, torch.Tensor]],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> List[Dict[str, float]]:
        """:meth:`evaluate` of every network of a space's fused network, in one pass per batch."""
        logits = [
            run_fused_with_generated_weights(fused, params, x, self.amp_dtype) for x, _ in batches
        ]
        return self.readings(logits, [y for _, y in batches])

    def readings(self, logits: List[torch.Tensor], labels: List[torch.Tensor]):
        """One result per network from each batch's logits ``(networks, batch, classes)``."""
        expected, correct, total = 0.0, 0, 0
        for out, y in zip(logits, labels):
            correct = correct + (out.argmax(2) == y).sum(1).cpu()
            if self.expected:
                probabilities = out.float().softmax(-1)
                index = y.view(1, -1, 1).expand(out.shape[0], -1, 1)
                expected = expected + probabilities.gather(2, index).squeeze(2).sum(1).cpu()
            total += int(y.numel())
        total = max(total, 1)
        if not self.expected:
            return [{"score": int(c) / total} for c in correct]
        return [
            {"score": float(e) / total, "accuracy": int(c) / total}
            for e, c in zip(expected, correct)
        ]


@SELECTION_REGISTRY.register()
def accuracy(cfg) -> AccuracyCriterion:
    """Validation accuracy (the paper's search signal for classification)."""
    return AccuracyCriterion(amp_dtype=cfg.MODEL.AMP_DTYPE)


@SELECTION_REGISTRY.register()
def expected_accuracy(cfg) -> AccuracyCriterion:
    """Mean probability of the true class on the validation subset (a smoother accuracy)."""
    return AccuracyCriterion(amp_dtype=cfg.MODEL.AMP_DTYPE, expected=True)
