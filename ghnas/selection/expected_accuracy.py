"""The ``expected_accuracy`` criterion: the mean probability the network gives the true class.

It is the accuracy a network would have if it answered by sampling from its softmax, so it lies
in [0, 1] like accuracy, but it moves with every image's confidence instead of only with the
images whose argmax flips. With generated weights and a few hundred evaluation images, accuracy
differences between architectures are of the order of single images, and this smoother reading
ranks more steadily from one GHN checkpoint to the next.
"""

from typing import Dict, List, Tuple

import torch
from torch import nn

from ghnas.layers.batch_statistics import (
    run_fused_with_generated_weights,
    run_with_generated_weights,
)
from ghnas.selection.build import SELECTION_REGISTRY


class ExpectedAccuracyCriterion:
    """Mean softmax probability of the true class; reports plain ``accuracy`` beside it."""

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
        """``{"score": expected accuracy, "accuracy": accuracy}`` over ``batches``."""
        logits = [
            run_with_generated_weights(network, params, x, self.amp_dtype) for x, _ in batches
        ]
        return _readings([o.unsqueeze(0) for o in logits], [y for _, y in batches])[0]

    @torch.no_grad()
    def evaluate_fused(
        self,
        fused: nn.Module,
        params: List[Dict[str, torch.Tensor]],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> List[Dict[str, float]]:
        """:meth:`evaluate` of every network of a space's fused network."""
        logits = [
            run_fused_with_generated_weights(fused, params, x, self.amp_dtype) for x, _ in batches
        ]
        return _readings(logits, [y for _, y in batches])


def _readings(logits: List[torch.Tensor], labels: List[torch.Tensor]) -> List[Dict[str, float]]:
    """Per network: logits (networks, batch, classes) of each batch against its labels."""
    expected, correct, total = 0.0, 0.0, 0
    for out, y in zip(logits, labels):
        probabilities = out.float().softmax(-1)
        index = y.view(1, -1, 1).expand(out.shape[0], -1, 1)
        expected = expected + probabilities.gather(2, index).squeeze(2).sum(1)
        correct = correct + (out.argmax(2) == y).sum(1)
        total += int(y.numel())
    total = max(total, 1)
    return [
        {"score": float(e) / total, "accuracy": int(c) / total}
        for e, c in zip(expected.cpu(), correct.cpu())
    ]


@SELECTION_REGISTRY.register()
def expected_accuracy(cfg) -> ExpectedAccuracyCriterion:
    """Mean probability of the true class on the validation subset (a smoother accuracy)."""
    return ExpectedAccuracyCriterion(amp_dtype=cfg.MODEL.AMP_DTYPE)
