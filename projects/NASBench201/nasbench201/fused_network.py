"""Many NAS-Bench-201 networks in one pass, on generated weights.

A networks of the space share the macro skeleton and differ only in the op on each cell edge.
Activations are held as one tensor of ``A·c`` channels, architecture a owning channels
``[a·c, (a+1)·c)``:

- the stem is one convolution with ``A·C`` filters; the reduction blocks and the cell
  convolutions are grouped convolutions (groups = architectures), so each architecture still
  sees only its own channels;
- a cell edge buckets the architectures by the op on that edge: a convolution bucket runs as one
  grouped convolution over the bucket's channels, ``skip_connect`` and ``avg_pool_3x3`` act on
  theirs, ``none`` adds nothing, and only live edges (``NB201Architecture.live_edges``) run,
  since no other op can change the output;
- BatchNorm normalises each channel with the batch's statistics, which are per architecture
  because the channels are; the GHN generates no BN affine, so it is the identity, as on a
  freshly built network.

The result equals ``run_with_generated_weights(space.build_network(a), params[a], x)`` for every
a (tested); the point is that the work is a few dozen large kernels instead of A times as many
small ones.
"""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import EDGES, NB201Architecture

BN_EPS = 1e-5  # nn.BatchNorm2d's default, which the built networks use
CONVOLUTIONS = frozenset({"nor_conv_1x1", "nor_conv_3x3"})


class FusedNASBench201(nn.Module):
    """``fused(params, x)`` -> logits ``(len(archs), batch, classes)``.

    ``params[a]`` holds the generated parameters of ``archs[a]`` under the built network's names
    (what the GHN returns for it). The networks run in groups of ``group_size`` (0: all in one),
    each group one pass of grouped convolutions.
    """

    def __init__(self, archs: Sequence[NB201Architecture], *, layout, group_size: int = 0) -> None:
        super().__init__()
        if not archs:
            raise ValueError("a fused network needs at least one architecture")
        size = group_size if group_size > 0 else len(archs)
        self.groups = [
            NetworkGroup(archs[i : i + size], layout) for i in range(0, len(archs), size)
        ]

    def forward(self, params: Sequence[Dict[str, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        if len(params) != sum(len(g.archs) for g in self.groups):
            raise ValueError(f"got parameters of {len(params)} networks for {len(self.archs)}")
        outputs, start = [], 0
        for group in self.groups:
            outputs.append(group(params[start : start + len(group.archs)], x))
            start += len(group.archs)
        return torch.cat(outputs)

    @property
    def archs(self) -> List[NB201Architecture]:
        return [a for g in self.groups for a in g.archs]


class NetworkGroup(nn.Module):
    """The networks of ``archs`` in one pass: grouped convolutions, edges bucketed by op."""

    def __init__(self, archs: Sequence[NB201Architecture], layout) -> None:
        super().__init__()
        self.archs = list(archs)
        self.layout = list(layout)  # ("cell" | "reduction", channels) per module
        # edge -> op -> indices of the architectures whose live edge carries that op.
        self.buckets: List[Dict[str, List[int]]] = [{} for _ in EDGES]
        for a, arch in enumerate(self.archs):
            for e in arch.live_edges:
                self.buckets[e].setdefault(arch.ops[e], []).append(a)
        self._index_cache: Dict[tuple, torch.Tensor] = {}

    def forward(self, params: Sequence[Dict[str, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        # Channels-last: the layout oneDNN and cuDNN convolve fastest.
        x = x.contiguous(memory_format=torch.channels_last)
        h = _batch_norm(F.conv2d(x, _stacked(params, "stem.conv.weight"), padding=1))
        for m, (kind, c) in enumerate(self.layout):
            if kind == "reduction":
                h = self._reduction(params, m, h)
            else:
                h = self._cell(params, m, c, h)
        num = len(self.archs)
        pooled = F.relu(_batch_norm(h)).mean(dim=(2, 3)).view(x.shape[0], num, -1)
        weight = torch.stack([p["classifier.weight"] for p in params])  # (A, classes, 4C)
        bias = torch.stack([p["classifier.bias"] for p in params])  # (A, classes)
        return torch.einsum("bac,akc->abk", pooled, weight) + bias.unsqueeze(1)

    def _reduction(self, params, m: int, h: torch.Tensor) -> torch.Tensor:
        num = len(self.archs)
        prefix = f"cells.{m}"
        a = _conv_bn(F.relu(h), _stacked(params, f"{prefix}.conv_a.conv.weight"), 2, num)
        b = _conv_bn(F.relu(a), _stacked(params, f"{prefix}.conv_b.conv.weight"), 1, num)
        shortcut = F.conv2d(
            F.avg_pool2d(h, 2, stride=2), _stacked(params, f"{prefix}.downsample.conv.weight"),
            groups=num,
        )  # fmt: skip
        return b.add_(shortcut)

    def _cell(self, params, m: int, c: int, h: torch.Tensor) -> torch.Tensor:
        """Node j = sum of the live edges into it; channel block a belongs to architecture a."""
        nodes: List[torch.Tensor] = [h]
        rectified: Dict[int, torch.Tensor] = {}  # ReLU of a node, shared by its conv edges
        for dst in range(1, 4):
            total = None
            for e, (d, src) in enumerate(EDGES):
                if d != dst:
                    continue
                for op, members in self.buckets[e].items():
                    if op in CONVOLUTIONS and src not in rectified:
                        rectified[src] = F.relu(nodes[src])
                    source = rectified[src] if op in CONVOLUTIONS else nodes[src]
                    chosen = [params[a] for a in members]
                    out = self._edge(chosen, m, e, op, self._select(source, members, c))
                    if total is None and op == "skip_connect":
                        out = out.clone()  # the node itself: the sum must not write into it
                    total = self._accumulate(total, out, members, c)
            # A node no live edge reaches is read by no live edge; only the output needs zeros.
            nodes.append(total)
        return torch.zeros_like(h) if nodes[-1] is None else nodes[-1]

    def _edge(self, chosen, m: int, e: int, op: str, x: torch.Tensor) -> torch.Tensor:
        """Op ``op`` of edge ``e`` of cell ``m`` on ``x``, the channels of the ``chosen``
        networks (already rectified for a convolution)."""
        if op == "skip_connect":
            return x
        if op == "avg_pool_3x3":
            return _average_pool_3x3(x)
        weight = _stacked(chosen, f"cells.{m}.edges.{e}.conv.weight")
        return _conv_bn(x, weight, 1, len(chosen))

    def _select(self, x: torch.Tensor, members: List[int], c: int) -> torch.Tensor:
        """The channel blocks of ``members`` (``x`` itself when that is every network)."""
        if len(members) == len(self.archs):
            return x
        blocks = x.unflatten(1, (len(self.archs), c)).index_select(1, self._index(members, x))
        return blocks.flatten(1, 2).contiguous(memory_format=torch.channels_last)

    def _accumulate(self, total, out: torch.Tensor, members: List[int], c: int) -> torch.Tensor:
        """``total + out`` with ``out`` added to the channel blocks of ``members``; ``out`` may
        become the total (it is a fresh tensor)."""
        if len(members) == len(self.archs):
            return out if total is None else total.add_(out)
        if total is None:
            batch, _, height, width = out.shape
            total = out.new_zeros(batch, len(self.archs) * c, height, width)
            total = total.contiguous(memory_format=torch.channels_last)
        blocks = total.unflatten(1, (len(self.archs), c))
        blocks.index_add_(1, self._index(members, out), out.unflatten(1, (len(members), c)))
        return total

    def _index(self, members: List[int], like: torch.Tensor) -> torch.Tensor:
        key = (tuple(members), like.device)
        if key not in self._index_cache:
            self._index_cache[key] = torch.tensor(members, device=like.device)
        return self._index_cache[key]


def _stacked(params, name: str) -> torch.Tensor:
    """The ``name`` weights of every network, one above the other (grouped-convolution order)."""
    return torch.cat([p[name] for p in params])


def _conv_bn(x: torch.Tensor, weight: torch.Tensor, stride: int, groups: int) -> torch.Tensor:
    """Grouped bias-free convolution (padding k // 2), then BN on batch statistics."""
    k = weight.shape[-1]
    return _batch_norm(F.conv2d(x, weight, stride=stride, padding=k // 2, groups=groups))


def _batch_norm(x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, None, None, training=True, eps=BN_EPS)


def _average_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """``avg_pool2d(x, 3, 1, 1, count_include_pad=False)`` as a depthwise box-sum convolution
    times 1 / (pixels in the window): several times faster on CPU than the pooling kernel."""
    channels, height, width = x.shape[1:]
    box = x.new_ones(channels, 1, 3, 3)
    counts = F.conv2d(x.new_ones(1, 1, height, width), box[:1], padding=1)
    return F.conv2d(x, box, padding=1, groups=channels).mul_(counts.reciprocal_())
