"""Precise BN statistics, BN layers called several times per forward included."""

import copy

import torch
from torch import nn

from ghnas.layers.precise_bn import update_bn_stats


class Twice(nn.Module):
    """One BN applied to two inputs, as a node of the classification space does."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x) + self.bn(2 * x + 1)


def test_population_statistics_over_every_call_of_every_batch():
    torch.manual_seed(0)
    batches = [torch.randn(4, 3, 5, 5) for _ in range(3)]
    model = Twice().train()
    update_bn_stats(model, iter(batches), 3)
    seen = torch.cat([t for x in batches for t in (x, 2 * x + 1)])  # equal-size calls
    per_call = seen.view(6, 4, 3, 5, 5)
    means = per_call.mean((1, 3, 4))
    variances = per_call.var((1, 3, 4), unbiased=False)
    mean = means.mean(0)
    assert torch.allclose(model.bn.running_mean, mean, atol=1e-5)
    # The pooled variance of every value normalised: E[x²] - E[x]².
    expected_var = (variances + means**2).mean(0) - mean**2
    assert torch.allclose(model.bn.running_var, expected_var, atol=1e-5)


def test_eval_mode_layers_are_left_alone():
    model = Twice().eval()
    update_bn_stats(model, iter([torch.randn(4, 3, 5, 5)]), 1)
    assert torch.equal(model.bn.running_mean, torch.zeros(3))


def test_equals_fvcore_where_fvcore_applies():
    """Without reused layers the estimate is fvcore's own (an independent reference)."""
    from fvcore.nn.precise_bn import update_bn_stats as fvcore_update_bn_stats

    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))
    reference = copy.deepcopy(model).train()
    model.train()
    batches = [torch.randn(8, 3, 6, 6) for _ in range(4)]
    update_bn_stats(model, iter(batches), 4)
    fvcore_update_bn_stats(reference, batches, num_iters=4)
    for ours, theirs in zip(model.modules(), reference.modules()):
        if isinstance(ours, nn.BatchNorm2d):
            torch.testing.assert_close(ours.running_mean, theirs.running_mean, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(ours.running_var, theirs.running_var, rtol=1e-4, atol=1e-5)
