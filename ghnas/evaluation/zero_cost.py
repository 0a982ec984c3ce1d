"""Training-free ("zero-cost") estimators: a score per architecture from its untrained network.

    scores = zero_cost_scores(network, images, labels, ["naswot", "synflow"])

The field's standard baselines, each as published, each higher-is-better, each on a freshly
initialised network of any search space that builds ``nn.Module`` networks:

- ``naswot`` (Mellor et al. 2021, "without training", the Hamming-kernel version): the binary
  activation code of every ``nn.ReLU`` input over one mini-batch; K = Σ_relu c·cᵀ + (1−c)(1−c)ᵀ;
  score log|det K|.
- ``synflow`` (Tanaka et al. 2020): every parameter replaced by its absolute value, in float64,
  BN reduced to the identity (the published runs build the network without BN); R = Σ of the
  output for one all-ones input; score Σ θ·∂R/∂θ over conv and linear weights, reported as its
  natural logarithm (same order, and Pearson r is not ruled by a few huge values).
- ``snip`` (Lee et al. 2019, as in Abdelfattah et al. 2021): Σ |θ·∂L/∂θ| over conv and linear
  weights, L the mean cross-entropy of the mini-batch.
- ``grad_norm`` (Abdelfattah et al. 2021): Σ over conv and linear layers of ‖∂L/∂W‖₂.
- ``jacob_cov`` (Mellor et al. 2020, v1): J the gradient of Σ outputs w.r.t. each input image,
  C the correlation matrix of the rows of J, eigenvalues λ; score −Σ log(λ+k) + 1/(λ+k), k=1e-5.

Networks run in training mode (BN on the mini-batch's statistics). No maintained package
publishes these for arbitrary PyTorch networks, so they are written here and tested against
values worked out by hand. A new estimator is one registered function ``fn(network, images,
labels) -> float``. A score that is undefined for a network (jacob_cov of a network whose output
ignores its input, the log of a zero synflow) is kept as NaN or −inf and ranks last
(:func:`rankable`).
"""

import copy
import math
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from fvcore.common.registry import Registry
from torch import nn

from ghnas.utils.errors import GhnasError

ZERO_COST_REGISTRY = Registry("ZERO_COST")
ZERO_COST_REGISTRY.__doc__ = "Training-free estimators: fn(network, images, labels) -> float."

JACOB_COV_K = 1e-5


def zero_cost_scores(
    network: nn.Module, images: torch.Tensor, labels: torch.Tensor, names: Sequence[str]
) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Each named estimator's score of ``network`` and the seconds it took.

    Every estimator gets its own copy of the network, so none sees another's gradients or
    changed weights, and ``network`` itself is left as it was.
    """
    scores, seconds = {}, {}
    for name in names:
        estimator = zero_cost_estimator(name)
        started = time.perf_counter()
        scores[name] = float(estimator(copy.deepcopy(network), images, labels))
        seconds[name] = time.perf_counter() - started
    return scores, seconds


def zero_cost_estimator(name: str) -> Callable:
    """The registered estimator ``name``, or a one-line error listing those there are."""
    if name not in ZERO_COST_REGISTRY:
        known = ", ".join(sorted(k for k, _ in ZERO_COST_REGISTRY))
        raise GhnasError(f"unknown zero-cost estimator '{name}'; registered: {known}")
    return ZERO_COST_REGISTRY.get(name)


def rankable(scores: Sequence[float]) -> List[float]:
    """``scores`` with NaN and −inf put below, and +inf above, every finite score."""
    finite = [s for s in scores if math.isfinite(s)]
    low = min(finite, default=0.0) - 1.0
    high = max(finite, default=0.0) + 1.0
    return [s if math.isfinite(s) else (high if s == math.inf else low) for s in scores]


def weight_layers(network: nn.Module) -> List[nn.Module]:
    """The convolution and linear layers whose weights the gradient estimators read."""
    return [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _loss_backward(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
    network.train()
    network.zero_grad(set_to_none=True)
    F.cross_entropy(network(images), labels).backward()


def _weight_gradients(network: nn.Module):
    for layer in weight_layers(network):
        if layer.weight.grad is not None:  # None: the layer cannot reach the output
            yield layer.weight.detach(), layer.weight.grad


@ZERO_COST_REGISTRY.register()
def grad_norm(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Σ over conv and linear layers of the L2 norm of the loss gradient of the weight."""
    _loss_backward(network, images, labels)
    return sum(float(g.norm()) for _, g in _weight_gradients(network))


@ZERO_COST_REGISTRY.register()
def snip(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Σ |θ·∂L/∂θ| over conv and linear weights (connection sensitivity)."""
    _loss_backward(network, images, labels)
    return sum(float((w * g).abs().sum()) for w, g in _weight_gradients(network))


@ZERO_COST_REGISTRY.register()
def synflow(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """log Σ θ·∂R/∂θ with |θ|, float64, BN as the identity and one all-ones input."""
    network = network.double().train()
    with torch.no_grad():
        for p in network.parameters():
            p.abs_()
    for bn in (m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        bn.reset_running_stats()  # mean 0, variance 1, and with weight 1, bias 0 ...
        if bn.affine:
            with torch.no_grad():
                bn.weight.fill_(1.0)
                bn.bias.zero_()
        bn.eval()  # ... each BN passes its input through (up to 1/sqrt(1 + eps))
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    network.zero_grad(set_to_none=True)
    network(ones).sum().backward()
    total = sum(float((w * g).sum()) for w, g in _weight_gradients(network))
    return math.log(total) if total > 0 else -math.inf


@ZERO_COST_REGISTRY.register()
def naswot(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """log|det K| of the ReLU codes' Hamming-similarity kernel over the mini-batch."""
    relus = [m for m in network.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise GhnasError("naswot reads the codes of nn.ReLU modules and the network has none")
    n = images.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=images.device)

    def record(module, inputs, output):
        code = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(code @ code.t() + (1 - code) @ (1 - code).t())

    handles = [m.register_forward_hook(record) for m in relus]
    try:
        with torch.no_grad():
            network.train()(images)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel.cpu())[1])


@ZERO_COST_REGISTRY.register()
def jacob_cov(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """−Σ log(λ+k) + 1/(λ+k) over the eigenvalues λ of the input Jacobians' correlations."""
    x = images.detach().clone().requires_grad_(True)
    network.train()(x).sum().backward()
    if x.grad is None:
        return math.nan  # nothing from the input reaches the output
    jacobian = x.grad.reshape(x.shape[0], -1).double().cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.corrcoef(jacobian)
    if not np.isfinite(correlation).all():
        return math.nan  # some image's Jacobian is constant: the output ignores the input
    eigenvalues = np.clip(np.linalg.eigvalsh(correlation), 0.0, None)  # rounding: >= 0
    return float(-np.sum(np.log(eigenvalues + JACOB_COV_K) + 1.0 / (eigenvalues + JACOB_COV_K)))
