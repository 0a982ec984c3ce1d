"""Numbers given for float keys are floats, however they are written; other types still fail."""

import pytest

from ghnas.config import get_cfg
from ghnas.utils.errors import GhnasError


def test_command_line_ints_and_exponents_become_floats():
    cfg = get_cfg()
    cfg.merge_from_list(["EXPORT.FLOP_BUDGET", "600000000", "SOLVER.BASE_LR", "1", "SEED", "3"])
    assert cfg.EXPORT.FLOP_BUDGET == 600e6 and isinstance(cfg.EXPORT.FLOP_BUDGET, float)
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float)
    assert cfg.SEED == 3 and isinstance(cfg.SEED, int)  # an int key stays an int


def test_yaml_exponents_and_ints_become_floats(tmp_path):
    # PyYAML reads 600e6 (no dot) as a string; yacs refuses an int for a float key.
    path = tmp_path / "budget.yaml"
    path.write_text("EXPORT:\n  FLOP_BUDGET: 600e6\nANYTIME:\n  FLOP_BUDGET: 150000000\n")
    cfg = get_cfg(str(path))
    assert (cfg.EXPORT.FLOP_BUDGET, cfg.ANYTIME.FLOP_BUDGET) == (600e6, 150e6)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("EXPORT.FLOP_BUDGET", "lots", "EXPORT.FLOP_BUDGET"),
        ("SEARCH.NUM_ARCHS", "1.5", "NUM_ARCHS"),
    ],
)
def test_other_mismatches_are_still_one_line_errors(key, value, expected):
    with pytest.raises(GhnasError, match=expected) as info:
        get_cfg().merge_from_list([key, value])
    assert "\n" not in str(info.value)
