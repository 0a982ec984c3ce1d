"""Precise BatchNorm statistics for networks that call one BN module several times per forward.

fvcore's ``fvcore.nn.precise_bn.update_bn_stats`` recomputes a network's running BN statistics
as the true population mean/variance over a number of batches (Sec. 3 of "Rethinking Batch in
BatchNorm"), but it asserts that every BN layer runs at most once per forward. A node of the
classification space applies its op, BN included, to each of its inputs (Eq. 7), so its BN runs
once per input and fvcore refuses the network. This is the same estimate with that case
allowed: every call of a BN layer is one sample of its population statistics, weighted by the
values it normalises, exactly as fvcore weights its batches.
"""

from typing import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def update_bn_stats(model: nn.Module, inputs: Iterable[torch.Tensor], num_iters: int) -> None:
    """Set the running mean/variance of ``model``'s BN layers in training mode to their
    population statistics over the first ``num_iters`` batches of ``inputs``.

    As in fvcore, the model's mode is not changed (BN layers in eval mode are left alone) and
    any other state a forward changes changes here too. As in fvcore's population estimator, the
    statistics are those of all values the calls normalised, pooled: mean E[x] and variance
    E[x²] - E[x]², each call weighted by how many values it normalised.

    Raises:
        ValueError: ``inputs`` ran out before ``num_iters`` batches.
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training]
    if not layers or num_iters < 1:
        return
    # Per layer: values seen, and the weighted sums of each call's E[x] and E[x²].
    sums = {layer: [0, 0.0, 0.0] for layer in layers}

    def accumulate(module, args):
        x = args[0].float()
        dims = [d for d in range(x.dim()) if d != 1]
        weight = x.numel() // x.shape[1]
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        entry = sums[module]
        entry[0] += weight
        entry[1] = entry[1] + weight * mean
        entry[2] = entry[2] + weight * (var + mean * mean)

    hooks = [layer.register_forward_pre_hook(accumulate) for layer in layers]
    try:
        done = 0
        for x in inputs:
            if done == num_iters:
                break
            model(x)
            done += 1
        if done < num_iters:
            raise ValueError(f"update_bn_stats: {num_iters} batches needed, got {done}")
    finally:
        for hook in hooks:
            hook.remove()
    for layer, (weight, mean_sum, square_sum) in sums.items():
        if weight == 0:  # a layer this network never ran (e.g. an unused branch)
            continue
        mean = mean_sum / weight
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(square_sum / weight - mean * mean)
