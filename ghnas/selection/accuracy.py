"""The ``accuracy`` criterion: validation accuracy with generated weights, in [0, 1]."""

import contextlib
from typing import Dict, List, Tuple

import torch
from torch import nn

from ghnas.layers.batch_statistics import batch_statistics
from ghnas.selection.build import SELECTION_REGISTRY


def autocast_context(device: torch.device, amp_dtype: str):
    """``torch.autocast`` for ``MODEL.AMP_DTYPE`` ("none" disables it)."""
    if amp_dtype == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, amp_dtype))


class AccuracyCriterion:
    """Fraction of the evaluation images classified correctly.

    BatchNorm uses each batch's statistics (the GHN generates no BN affine and no running
    statistics), so the score depends on the batch size, which is why the search fixes it.
    """

    def __init__(self, *, amp_dtype: str = "none") -> None:
        self.amp_dtype = amp_dtype

    @torch.no_grad()
    def score(
        self,
        network: nn.Module,
        params: Dict[str, torch.Tensor],
        batches: List[Tuple[torch.Tensor, torch.Tensor]],
    ) -> float:
        """Accuracy of ``network`` with ``params`` over ``batches``."""
        correct, total = 0, 0
        with batch_statistics(network):
            for x, y in batches:
                with autocast_context(x.device, self.amp_dtype):
                    logits = torch.func.functional_call(network, params, (x,), strict=False)
                correct += int((logits.argmax(1) == y).sum())
                total += int(y.numel())
        return correct / max(total, 1)


@SELECTION_REGISTRY.register()
def accuracy(cfg) -> AccuracyCriterion:
    """Validation accuracy (the paper's search signal for classification)."""
    return AccuracyCriterion(amp_dtype=cfg.MODEL.AMP_DTYPE)
