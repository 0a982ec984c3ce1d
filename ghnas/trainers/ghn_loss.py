"""The GHN's training loss: cross-entropy of networks that run with generated weights.

The trainer back-propagates this loss into the weight generator; the networks themselves hold no
parameters (``ghnas.layers.batch_statistics`` runs them with the generated tensors).
"""

import torch
import torch.nn.functional as F

from ghnas.layers.batch_statistics import (
    instantiate_for_generated_weights,
    run_fused_with_generated_weights,
    run_with_generated_weights,
)


def mean_loss(space, archs, params, x, y, amp_dtype: str = "none", fused: bool = True):
    """Mean cross-entropy of the networks of ``archs`` with ``params`` on one batch ``(x, y)``.

    With ``fused``, the space's fused network runs them all in one pass where it has one;
    otherwise each network runs on its own (an early-exit network's loss is the mean over its
    exits).
    """
    network = space.build_fused_network(archs) if fused else None
    if network is not None:
        logits = run_fused_with_generated_weights(network.to(x.device), params, x, amp_dtype)
        # Every network sees the same batch, so this is the mean of the per-network means.
        return F.cross_entropy(logits.float().flatten(0, 1), y.repeat(len(archs)))
    losses = []
    for arch, arch_params in zip(archs, params):
        network = instantiate_for_generated_weights(space, arch, x.device)
        logits = run_with_generated_weights(network, arch_params, x, amp_dtype)
        # An early-exit network returns one output per exit: the loss is their mean.
        outputs = logits if isinstance(logits, (list, tuple)) else [logits]
        losses.append(torch.stack([F.cross_entropy(o.float(), y) for o in outputs]).mean())
    return torch.stack(losses).mean()
