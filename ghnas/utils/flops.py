"""The project's FLOP definition, in one place.

FLOPs are what fvcore's ``FlopCountAnalysis`` counts with its default handles on the network in
eval mode, for one image at the space's input size: one multiply-add is one FLOP (the convention
behind the paper's 600M mobile budget). Convolutions, linear layers, eval-mode BatchNorm (2 per
element with affine) and adaptive average pooling are counted; ReLU, max/avg pooling, additions
and concatenations are not. Every space's ``analytic_flops`` mirrors exactly this, and a test
holds the two equal.
"""

from typing import Tuple

import torch
from torch import nn

from ghnas.utils.fvcore_nn import FlopCountAnalysis


def count_flops(network: nn.Module, input_shape: Tuple[int, ...]) -> int:
    """FLOPs of ``network`` on one input of ``input_shape`` (C, H, W), traced in eval mode."""
    was_training = network.training
    network.eval()
    try:
        device = next(network.parameters()).device
        analysis = FlopCountAnalysis(network, torch.zeros(1, *input_shape, device=device))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())
    finally:
        network.train(was_training)
