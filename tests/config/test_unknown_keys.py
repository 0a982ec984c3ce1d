"""An unknown config key is one line that suggests the key meant, from the command line or YAML."""

import pytest

from ghnas.config import get_cfg
from ghnas.utils.errors import GhnasError


@pytest.mark.parametrize(
    "key, suggestion",
    [("SOLVER.BASE_RL", "SOLVER.BASE_LR"), ("SEARCH.NUM_ARCH", "SEARCH.NUM_ARCHS"),
     ("GHN.LAYERNORM", "GHN.LAYER_NORM")],
)  # fmt: skip
def test_a_misspelt_override_gets_a_suggestion(key, suggestion):
    with pytest.raises(GhnasError, match=f"Non-existent key: {key}; did you mean {suggestion}\\?"):
        get_cfg().merge_from_list([key, 1])


def test_a_key_like_no_other_gets_none():
    with pytest.raises(GhnasError) as error:
        get_cfg().merge_from_list(["FOO.BAR", 1])
    assert "did you mean" not in str(error.value) and "defaults.py" in str(error.value)


def test_a_misspelt_yaml_key_gets_a_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("SOLVER:\n  MAX_ITRE: 5\n")
    with pytest.raises(GhnasError, match=r"SOLVER.MAX_ITRE; did you mean SOLVER.MAX_ITER\?"):
        get_cfg().merge_from_file(str(path))


def test_a_list_key_takes_a_bare_comma_separated_value():
    cfg = get_cfg()
    cfg.merge_from_list(["PHASES", "search", "SOLVER.LR_DECAY_POINTS", "0.5,0.75"])
    assert list(cfg.PHASES) == ["search"] and list(cfg.SOLVER.LR_DECAY_POINTS) == [0.5, 0.75]
    cfg.merge_from_list(["PHASES", "ghn,search", "ZERO_COST.ESTIMATORS", "['naswot']"])
    assert list(cfg.PHASES) == ["ghn", "search"] and list(cfg.ZERO_COST.ESTIMATORS) == ["naswot"]
