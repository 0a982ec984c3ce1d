"""The nine operators of the classification search space (appendix 7.1 of the paper).

Every convolution is bias-free and every op keeps its input's width and resolution, so a node can
apply one op module to each of its inputs and sum the results (Eq. 7). Each parametrised op states
which of its weights the graph hypernetwork generates and from which parameter family
(``generated_weights``); the family shapes live in ``ghnas/search_spaces/classification.py``.
"""

from typing import Dict, List, NamedTuple, Tuple

from torch import nn


class GeneratedWeight(NamedTuple):
    """One weight of an op as the GHN produces it.

    ``family``/``slot`` pick the hypernet output branch, ``slice_shape`` is the part of the
    family's output taken (leading slice, spatial dims centre-cropped) and ``shape`` the final
    parameter shape it is reshaped to.
    """

    suffix: str
    family: str
    slot: int
    slice_shape: Tuple[int, ...]
    shape: Tuple[int, ...]


def _pointwise(suffix: str, slot: int, c: int) -> GeneratedWeight:
    return GeneratedWeight(suffix, "pointwise", slot, (c, c), (c, c, 1, 1))


def _depthwise(suffix: str, slot: int, c: int, k: int) -> GeneratedWeight:
    return GeneratedWeight(suffix, "depthwise", slot, (c, k, k), (c, 1, k, k))


class SepConv(nn.Module):
    """(ReLU, depthwise k×k, pointwise 1×1, BN) applied twice."""

    def __init__(self, *, channels: int, kernel_size: int) -> None:
        super().__init__()
        c, k = channels, kernel_size
        self.relu1 = nn.ReLU()
        self.dw1 = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False)
        self.pw1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu2 = nn.ReLU()
        self.dw2 = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False)
        self.pw2 = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        x = self.bn1(self.pw1(self.dw1(self.relu1(x))))
        return self.bn2(self.pw2(self.dw2(self.relu2(x))))

    @staticmethod
    def generated_weights(c: int, k: int) -> List[GeneratedWeight]:
        return [
            _depthwise("dw1.weight", 0, c, k),
            _pointwise("pw1.weight", 0, c),
            _depthwise("dw2.weight", 1, c, k),
            _pointwise("pw2.weight", 1, c),
        ]


class DilConv(nn.Module):
    """ReLU, depthwise k×k with dilation 2, pointwise 1×1, BN."""

    def __init__(self, *, channels: int, kernel_size: int) -> None:
        super().__init__()
        c, k = channels, kernel_size
        self.relu = nn.ReLU()
        self.dw = nn.Conv2d(c, c, k, padding=k - 1, dilation=2, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.pw(self.dw(self.relu(x))))

    @staticmethod
    def generated_weights(c: int, k: int) -> List[GeneratedWeight]:
        return [_depthwise("dw.weight", 0, c, k), _pointwise("pw.weight", 0, c)]


class ReLUConvBN(nn.Module):
    """ReLU, 1×1 convolution, BN."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(self.relu(x)))

    @staticmethod
    def generated_weights(c: int, k: int) -> List[GeneratedWeight]:
        return [_pointwise("conv.weight", 0, c)]


class Conv1x7Then7x1(nn.Module):
    """ReLU, 1×7 convolution, 7×1 convolution, BN."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        c = channels
        self.relu = nn.ReLU()
        self.conv_1x7 = nn.Conv2d(c, c, (1, 7), padding=(0, 3), bias=False)
        self.conv_7x1 = nn.Conv2d(c, c, (7, 1), padding=(3, 0), bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.conv_7x1(self.conv_1x7(self.relu(x))))

    @staticmethod
    def generated_weights(c: int, k: int) -> List[GeneratedWeight]:
        return [
            GeneratedWeight("conv_1x7.weight", "conv_1x7_7x1", 0, (c, c, 7), (c, c, 1, 7)),
            GeneratedWeight("conv_7x1.weight", "conv_1x7_7x1", 1, (c, c, 7), (c, c, 7, 1)),
        ]


class _ParameterFree:
    @staticmethod
    def generated_weights(c: int, k: int) -> List[GeneratedWeight]:
        return []


class MaxPool(nn.MaxPool2d, _ParameterFree):
    """3×3 max pooling, stride 1, padding 1."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1)


class AvgPool(nn.AvgPool2d, _ParameterFree):
    """3×3 average pooling, stride 1, padding 1, padding not counted in the average."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)


class Identity(nn.Identity, _ParameterFree):
    """The input unchanged."""


# op name -> (module class, kernel size or 0)
CLASSIFICATION_OPS: Dict[str, Tuple[type, int]] = {
    "identity": (Identity, 0),
    "conv_1x1": (ReLUConvBN, 1),
    "sep_conv_3x3": (SepConv, 3),
    "sep_conv_5x5": (SepConv, 5),
    "dil_conv_3x3": (DilConv, 3),
    "dil_conv_5x5": (DilConv, 5),
    "conv_1x7_7x1": (Conv1x7Then7x1, 7),
    "max_pool_3x3": (MaxPool, 3),
    "avg_pool_3x3": (AvgPool, 3),
}


def build_op(name: str, channels: int) -> nn.Module:
    """The module of op ``name`` at ``channels`` width."""
    cls, k = CLASSIFICATION_OPS[name]
    if cls in (SepConv, DilConv):
        return cls(channels=channels, kernel_size=k)
    if cls in (ReLUConvBN, Conv1x7Then7x1):
        return cls(channels=channels)
    return cls()


def op_generated_weights(name: str, channels: int) -> List[GeneratedWeight]:
    """The weights the GHN generates for op ``name`` at ``channels`` width."""
    cls, k = CLASSIFICATION_OPS[name]
    return cls.generated_weights(channels, k)
