"""Running a candidate network with generated weights: batch statistics, no buffer updates."""

import contextlib
from typing import Dict, Iterator, List, Union

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def batch_statistics(network: nn.Module) -> Iterator[nn.Module]:
    """Make every BatchNorm of ``network`` normalise with the current batch's statistics and
    leave its running buffers untouched (as DARTS/ENAS do in search); restored on exit."""
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in network.modules()]
    try:
        for module, _, _ in saved:
            if isinstance(module, _BatchNorm):
                module.train()
                module.track_running_stats = False
        yield network
    finally:
        for module, training, track in saved:
            module.training = training
            if isinstance(module, _BatchNorm):
                module.track_running_stats = track


def instantiate_for_generated_weights(space, arch, device: torch.device) -> nn.Module:
    """``space.build_network(arch)`` without initialising the weights the GHN will replace.

    The network is built on the meta device and materialised empty on ``device``; only modules
    owning parameters or buffers that are not generated (BatchNorm) are initialised.
    """
    with torch.device("meta"):
        network = space.build_network(arch)
    network = network.to_empty(device=device)
    generated = set(network.generated_parameter_names())
    for prefix, module in network.named_modules():
        own = [f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters(recurse=False)]
        has_buffers = any(True for _ in module.buffers(recurse=False))
        if hasattr(module, "reset_parameters") and (has_buffers or set(own) - generated):
            module.reset_parameters()
    return network


def autocast_context(device: torch.device, amp_dtype: str):
    """``torch.autocast`` for ``MODEL.AMP_DTYPE`` ("none" disables it)."""
    if amp_dtype == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, amp_dtype))


def run_with_generated_weights(
    network: nn.Module, params: Dict[str, torch.Tensor], x: torch.Tensor, amp_dtype: str = "none"
) -> Union[torch.Tensor, List[torch.Tensor]]:
    """``network(x)`` with the generated ``params`` in place of its own, BN on batch statistics.

    Returns what the network returns: logits, or a list of logits for early-exit networks."""
    with batch_statistics(network), autocast_context(x.device, amp_dtype):
        return torch.func.functional_call(network, params, (x,), strict=False)


def run_fused_with_generated_weights(
    fused: nn.Module,
    params: List[Dict[str, torch.Tensor]],
    x: torch.Tensor,
    amp_dtype: str = "none",
) -> torch.Tensor:
    """Logits ``(networks, batch, classes)`` of a space's fused network (see
    ``SearchSpace.build_fused_network``) on one image batch, under ``MODEL.AMP_DTYPE``."""
    with autocast_context(x.device, amp_dtype):
        return fused(params, x)
