"""The network of the anytime search space: a stem, one DAG of nodes at three scales, early exits.

A node at scale s has C·2^s channels at resolution image_size / 2^s. It reads each parent in
parent order, resamples it to its own scale (down: average pooling with kernel = stride =
2^(s - s_u); up: nearest-neighbour interpolation by 2^(s_u - s)), concatenates them along the
channels, then runs ``bottleneck`` (ReLU, 1×1 conv ΣC_u -> C_v bias-free, BN) and its ``op``.
An exit head is BN, ReLU, global average pooling and a linear classifier.

Execution is exit by exit: for each exit in id order, the not yet computed ancestors of its node
run in id order, then its head. ``forward`` returns the logits of every exit in that order and
``forward_until(x, k)`` those of exits 0..k, computing nothing that exit k does not need;
``cumulative_exit_flops()`` gives, for every exit, the FLOPs of everything run up to and including
it, exactly as ``count_flops(net.truncated(k), input_shape)`` counts them.
"""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ghnas.search_spaces.base import generated_parameter_names
from ghnas.structures.anytime_architecture import AnytimeArchitecture
from ghnas.utils.errors import GhnasError

CONV_KERNELS: Dict[str, int] = {"conv_1x1": 1, "conv_3x3": 3, "conv_5x5": 5}


def node_channels(channels: int, scale: int) -> int:
    """C·2^s: the width of a node at ``scale``."""
    return channels * 2**scale


def node_resolution(image_size: int, scale: int) -> int:
    """image_size / 2^s: the side of a node's feature map (image_size is divisible by 4)."""
    return image_size // 2**scale


def build_anytime_op(op: str, channels: int) -> nn.Module:
    """A node op at ``channels`` width: ReLU-conv-BN for convs, a 3×3 stride-1 pool otherwise."""
    if op in CONV_KERNELS:
        k = CONV_KERNELS[op]
        module = nn.Sequential()
        module.add_module("relu", nn.ReLU())
        module.add_module("conv", nn.Conv2d(channels, channels, k, padding=k // 2, bias=False))
        module.add_module("bn", nn.BatchNorm2d(channels))
        return module
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise GhnasError(f"anytime: unknown op {op!r}")


class AnytimeNodeModule(nn.Module):
    """Resample every input to this node's scale, concatenate, bottleneck, op."""

    def __init__(
        self,
        *,
        op: str,
        scale: int,
        parent_scales: Tuple[int, ...],
        parent_channels: int,
        out_channels: int,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.parent_scales = parent_scales
        self.bottleneck = nn.Sequential()
        self.bottleneck.add_module("relu", nn.ReLU())
        self.bottleneck.add_module("conv", nn.Conv2d(parent_channels, out_channels, 1, bias=False))
        self.bottleneck.add_module("bn", nn.BatchNorm2d(out_channels))
        self.op = build_anytime_op(op, out_channels)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        resampled = [resample(x, s, self.scale) for x, s in zip(inputs, self.parent_scales)]
        x = resampled[0] if len(resampled) == 1 else torch.cat(resampled, dim=1)
        return self.op(self.bottleneck(x))


def resample(x: torch.Tensor, scale: int, target: int) -> torch.Tensor:
    """``x`` at ``scale`` brought to ``target``: average pooling down, nearest upsampling up."""
    if target > scale:
        factor = 2 ** (target - scale)
        return F.avg_pool2d(x, kernel_size=factor, stride=factor)
    if target < scale:
        return F.interpolate(x, scale_factor=2 ** (scale - target), mode="nearest")
    return x


class ExitHead(nn.Module):
    """BN, ReLU, global average pooling, linear classifier (with bias)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(F.relu(self.bn(x)), 1)
        return self.linear(torch.flatten(x, 1))


class TruncatedAnytimeNetwork(nn.Module):
    """A thin wrapper whose forward is ``network.forward_until(x, k)`` (for fvcore)."""

    def __init__(self, network: "AnytimeNetwork", k: int) -> None:
        super().__init__()
        self.network = network
        self.k = k

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.network.forward_until(x, self.k)


class AnytimeNetwork(nn.Module):
    """Stem (3×3 conv in -> C, BN) at scale 0, the DAG's nodes, one head per exit.

    Modules: ``stem.conv``, ``nodes.{i}.bottleneck.conv``, ``nodes.{i}.op.conv`` (i indexes
    ``arch.nodes``, node id i + 1) and ``heads.{id}.linear`` (id = the exit node's id).
    """

    def __init__(
        self,
        *,
        arch: AnytimeArchitecture,
        channels: int,
        num_classes: int,
        in_channels: int,
        image_size: int,
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise GhnasError(f"anytime: image size {image_size} must be divisible by 4")
        self.arch = arch
        self.channels = channels
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.image_size = image_size
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_channels, channels, 3, padding=1, bias=False))
        self.stem.add_module("bn", nn.BatchNorm2d(channels))
        self.nodes = nn.ModuleList()
        for node in arch.nodes:
            scales = tuple(arch.scale(p) for p in node.parents)
            self.nodes.append(
                AnytimeNodeModule(
                    op=node.op,
                    scale=node.scale,
                    parent_scales=scales,
                    parent_channels=sum(node_channels(channels, s) for s in scales),
                    out_channels=node_channels(channels, node.scale),
                )
            )
        self.heads = nn.ModuleDict(
            {
                str(e): ExitHead(node_channels(channels, arch.scale(e)), num_classes)
                for e in arch.exits
            }
        )
        self.schedule = exit_schedule(arch)

    def forward_until(self, x: torch.Tensor, k: int) -> List[torch.Tensor]:
        """Logits of exits 0..k (in order), computing only what they need."""
        if not 0 <= k < len(self.schedule):
            raise GhnasError(
                f"anytime: exit {k} does not exist (exits 0..{len(self.schedule) - 1})"
            )
        states = {0: self.stem(x)}
        logits = []
        for exit_id, new_nodes in zip(self.arch.exits[: k + 1], self.schedule[: k + 1]):
            for v in new_nodes:
                parents = self.arch.nodes[v - 1].parents
                states[v] = self.nodes[v - 1]([states[p] for p in parents])
            logits.append(self.heads[str(exit_id)](states[exit_id]))
        return logits

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Logits of every exit, in execution (id) order."""
        return self.forward_until(x, len(self.schedule) - 1)

    def truncated(self, k: int) -> nn.Module:
        """A module whose forward is ``forward_until(x, k)``."""
        return TruncatedAnytimeNetwork(self, k)

    def cumulative_exit_flops(self) -> List[int]:
        """FLOPs of everything run up to and including each exit (nodes and heads so far)."""
        return anytime_exit_flops(
            self.arch,
            channels=self.channels,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            image_size=self.image_size,
        )

    def generated_parameter_names(self) -> List[str]:
        """Names of the parameters a GHN generates (all but BN affine)."""
        return generated_parameter_names(self)


def exit_schedule(arch: AnytimeArchitecture) -> List[List[int]]:
    """For every exit in order, the node ids it newly computes (its not yet run ancestors and
    itself), in id order. The stem always runs first."""
    done = {0}
    schedule = []
    for e in arch.exits:
        needed, stack = set(), [e]
        while stack:
            v = stack.pop()
            if v in done or v in needed:
                continue
            needed.add(v)
            stack.extend(arch.nodes[v - 1].parents)
        schedule.append(sorted(needed))
        done |= needed
    return schedule


def anytime_exit_flops(
    arch: AnytimeArchitecture,
    *,
    channels: int,
    num_classes: int,
    in_channels: int,
    image_size: int,
) -> List[int]:
    """Cumulative FLOPs at every exit, as ``count_flops(net.truncated(k), ...)`` counts them.

    fvcore's default handles (one multiply-add = one FLOP, eval mode) count convolutions
    (Cout·Cin·kh·kw·Hout·Wout), eval BN with affine (2 per element), adaptive average pooling
    (input elements), linear layers (in·out, bias free of charge) and nearest upsampling (output
    elements); ReLU, max/avg pooling (the down-sampling included) and concatenation are free.
    """
    c, size = channels, image_size
    flops = c * in_channels * 9 * size * size + 2 * c * size * size  # stem conv + BN
    cumulative = []
    for new_nodes, e in zip(exit_schedule(arch), arch.exits):
        for v in new_nodes:
            node = arch.nodes[v - 1]
            c_v, r = node_channels(c, node.scale), node_resolution(size, node.scale)
            c_in = 0
            for p in node.parents:
                s_p = arch.scale(p)
                c_in += node_channels(c, s_p)
                if s_p > node.scale:  # nearest upsampling: one FLOP per output element
                    flops += node_channels(c, s_p) * r * r
            flops += c_v * c_in * r * r + 2 * c_v * r * r  # bottleneck conv + BN
            if node.op in CONV_KERNELS:
                k = CONV_KERNELS[node.op]
                flops += c_v * c_v * k * k * r * r + 2 * c_v * r * r
        c_e, r = node_channels(c, arch.scale(e)), node_resolution(size, arch.scale(e))
        flops += 2 * c_e * r * r + c_e * r * r + c_e * num_classes  # head BN, pool, linear
        cumulative.append(flops)
    return cumulative
