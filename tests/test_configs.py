"""Every YAML under configs/ and projects/*/configs/ loads into the defaults tree."""

from pathlib import Path

import pytest
from conftest import require_plugin

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.evaluation.ablation import member_config, sweep_settings
from ghnas.evaluation.ground_truth_recipe import TrainingRecipe
from ghnas.ghn import build_ghn
from ghnas.search_spaces import build_search_space

REPO = Path(__file__).resolve().parents[1]
YAMLS = sorted(REPO.glob("configs/**/*.yaml")) + sorted(REPO.glob("projects/*/configs/**/*.yaml"))


def test_there_are_configs():
    assert len(YAMLS) >= 3


def require_project_plugin(path: Path) -> None:
    """A project's YAML needs the project installed as a plug-in (its keys come with it)."""
    relative = path.relative_to(REPO)
    if relative.parts[0] == "projects":
        name = relative.parts[1]
        require_plugin(name.lower(), f"pip install -e projects/{name}")


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_loads_and_builds(path):
    require_project_plugin(path)
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    assert set(cfg.PHASES) <= {"ghn", "search", "final", "export"}
    cfg.merge_from_list(["MODEL.DEVICE", "cpu"])
    # The space and GHN it names build (with the dataset's shape stood in for).
    meta = DatasetMetadata(10, 3, cfg.INPUT.SIZE, (0.5,) * 3, (0.25,) * 3)
    space = build_search_space(cfg, meta)
    assert build_ghn(cfg, space) is not None
    TrainingRecipe.from_config(cfg)  # the correlation recipe's values are valid
    if cfg.ABLATION.KEY:  # every run of a sweep is a valid config whose GHN builds
        keys, runs = sweep_settings(cfg)
        for values in runs:
            member = member_config(cfg, keys, values, cache_dir="unused")
            assert build_ghn(member, build_search_space(member, meta)) is not None
