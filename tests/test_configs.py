"""Every YAML under configs/ and projects/*/configs/ loads into the defaults tree."""

from pathlib import Path

import pytest

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import build_ghn
from ghnas.search_spaces import build_search_space

REPO = Path(__file__).resolve().parents[1]
YAMLS = sorted(REPO.glob("configs/**/*.yaml")) + sorted(REPO.glob("projects/*/configs/**/*.yaml"))


def test_there_are_configs():
    assert len(YAMLS) >= 3


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_loads_and_builds(path):
    cfg = get_cfg(str(path))
    assert set(cfg.PHASES) <= {"ghn", "search", "final"}
    # The space and GHN it names build (with the dataset's shape stood in for).
    meta = DatasetMetadata(10, 3, cfg.INPUT.SIZE, (0.5,) * 3, (0.25,) * 3)
    space = build_search_space(cfg, meta)
    cfg.MODEL.DEVICE = "cpu"
    assert build_ghn(cfg, space) is not None
