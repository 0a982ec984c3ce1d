"""fit_width_to_budget: the widest F under a FLOP budget, confirmed by one fvcore trace."""

import numpy as np
import pytest

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import ImageNetMobileSearchSpace
from ghnas.search_spaces.width_fitting import fit_width_to_budget
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops

META = DatasetMetadata(num_classes=10, channels=3, image_size=32, mean=(0.5,) * 3, std=(0.2,) * 3)


def space_at(width: int) -> ImageNetMobileSearchSpace:
    return ImageNetMobileSearchSpace(num_nodes=4, num_blocks=6, init_channels=width, meta=META)


ARCH = space_at(1).sample(np.random.default_rng(0))


@pytest.mark.parametrize("width_scale", [3.0, 5.5, 9.2])
def test_the_widest_fitting_width_is_returned_and_confirmed_by_fvcore(width_scale):
    budget = space_at(1).analytic_flops(ARCH) * width_scale**2  # FLOPs grow ~ F^2
    width, flops = fit_width_to_budget(space_at, ARCH, budget, minimum=2, what="block")
    scan = [w for w in range(2, 40) if space_at(w).analytic_flops(ARCH) <= budget]
    assert width == max(scan)
    space = space_at(width)
    assert (
        flops == space.analytic_flops(ARCH) == count_flops(space.build_network(ARCH), (3, 32, 32))
    )
    assert flops <= budget < space_at(width + 1).analytic_flops(ARCH)


def test_a_block_over_the_budget_at_the_minimum_width_is_refused():
    at_minimum = space_at(8).analytic_flops(ARCH)
    budget = at_minimum - 1
    message = (
        f"block abc needs {at_minimum / 1e6:.4g}M FLOPs at the minimum width 8, over the budget "
        f"of {budget / 1e6:.4g}M"
    )
    with pytest.raises(GhnasError) as info:
        fit_width_to_budget(space_at, ARCH, budget, minimum=8, what="block abc")
    assert str(info.value) == message


def test_an_analytic_count_that_disagrees_with_fvcore_is_an_internal_error():
    class Miscounting(ImageNetMobileSearchSpace):
        def analytic_flops(self, arch):
            return super().analytic_flops(arch) - 1

    def wrong_space_at(width):
        return Miscounting(num_nodes=4, num_blocks=6, init_channels=width, meta=META)

    with pytest.raises(RuntimeError, match=r"internal error: .* analytic count \d+ .* counts \d+"):
        fit_width_to_budget(wrong_space_at, ARCH, 5e6, minimum=1, what="block")
