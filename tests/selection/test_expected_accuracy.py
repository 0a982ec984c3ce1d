"""expected_accuracy: the mean true-class probability, per network and fused, against numpy."""

import numpy as np
import torch
from torch import nn

from ghnas.config import get_cfg
from ghnas.selection import AccuracyCriterion, build_criterion


class Scaled(nn.Module):
    """A linear classifier whose weight comes in as a generated parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 3))

    def forward(self, x):
        return x @ self.weight.t()


class FusedScaled(nn.Module):
    def forward(self, params, x):
        return torch.stack([x @ p["weight"].t() for p in params])


def reference(weight, batches):
    logits = np.concatenate([x.numpy() @ weight.numpy().T for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p[np.arange(len(labels)), labels].mean(), (logits.argmax(1) == labels).mean()


def test_expected_accuracy_equals_numpy_per_network_and_fused():
    cfg = get_cfg()
    cfg.SEARCH.CRITERION = "expected_accuracy"
    criterion = build_criterion(cfg)
    assert isinstance(criterion, AccuracyCriterion) and criterion.expected
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(7, 3, generator=g), torch.randint(4, (7,), generator=g))
               for _ in range(3)]  # fmt: skip
    params = [{"weight": torch.randn(4, 3, generator=g) * s} for s in (0.1, 1.0, 5.0)]
    fused = criterion.evaluate_fused(FusedScaled(), params, batches)
    for p, together in zip(params, fused):
        alone = criterion.evaluate(Scaled(), p, batches)
        expected, accuracy = reference(p["weight"], batches)
        assert abs(alone["score"] - expected) < 1e-6 and alone["accuracy"] == accuracy
        assert abs(together["score"] - alone["score"]) < 1e-6
        assert together["accuracy"] == alone["accuracy"]
    assert len({round(r["score"], 6) for r in fused}) == 3
    plain = AccuracyCriterion().evaluate_fused(FusedScaled(), params, batches)
    assert [r["score"] for r in plain] == [r["accuracy"] for r in fused]
