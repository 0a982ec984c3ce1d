"""Explicit reduction layouts of the classification space: FLOPs, strides and bad layouts."""

import numpy as np
import pytest

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import ClassificationLayout, ClassificationSearchSpace
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops


def space(b: int, size: int, **layout) -> ClassificationSearchSpace:
    meta = DatasetMetadata(5, 3, size, (0.5,) * 3, (0.25,) * 3)
    return ClassificationSearchSpace(
        num_nodes=3, num_blocks=b, init_channels=2, meta=meta, **layout
    )


# (B, image size, reductions, stem stride): a reduction listed twice (stride-4 bottlenecks), odd
# sizes and strides rounding up, no reduction at all, a reduction at block 0.
LAYOUTS = [
    (5, 15, (0, 2, 2), 3),
    (4, 17, (1, 3), 2),
    (3, 9, (), 1),
    (6, 16, (0, 1, 4, 5), 1),
]


@pytest.mark.parametrize("setting", LAYOUTS, ids=lambda s: "B{}-S{}-R{}-stem{}".format(*s))
def test_analytic_flops_equal_fvcore(setting):
    b, size, reductions, stem_stride = setting
    sp = space(b, size, reductions=reductions, stem_stride=stem_stride)
    rng = np.random.default_rng(b)
    for _ in range(2):
        arch = sp.sample(rng)
        assert sp.analytic_flops(arch) == count_flops(sp.build_network(arch), sp.input_shape)
        net = sp.build_network(arch)
        assert list(sp.generated_parameter_shapes(arch)) == net.generated_parameter_names()
    assert sp.weight_families["pointwise"].shape == (2 * 2 ** len(reductions),) * 2  # c_max


def test_the_default_is_the_cifar_layout():
    for b in range(1, 10):
        layout = ClassificationLayout.build(b)
        old = [int(i >= b // 3) + int(i >= 2 * b // 3) for i in range(b)]  # the former rule
        assert layout.stages == old and layout.is_default()
        assert space(b, 8).describe() == {"num_nodes": 3, "num_blocks": b, "init_channels": 2}


def test_input_strides_follow_the_resolution_ratio():
    layout = ClassificationLayout.build(5, (0, 2, 2))
    assert layout.stages == [1, 1, 3, 3, 3]
    assert layout.input_strides == [(2, 2), (1, 2), (4, 4), (1, 4), (1, 1)]
    assert layout.auxiliary_block == 1


@pytest.mark.parametrize(
    "reductions,message",
    [
        ((1, 1, 1), r"block 1 reads block 0 at 8x its resolution"),
        ((0, 4), r"must lie in \[0, 4\), got 4"),
        ((-1,), r"must lie in \[0, 4\), got -1"),
    ],
)
def test_bad_layouts_are_one_line_errors(reductions, message):
    with pytest.raises(GhnasError, match=message) as info:
        space(4, 8, reductions=reductions)
    assert "\n" not in str(info.value)


def test_a_bad_stem_stride_is_an_error():
    with pytest.raises(GhnasError, match="stem_stride must be >= 1, got 0"):
        space(3, 8, stem_stride=0)
