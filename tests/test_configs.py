"""Every YAML under configs/ and projects/*/configs/ loads into the defaults tree."""

import importlib
import re
import sys
from pathlib import Path

import pytest

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.evaluation.ablation import member_config, sweep_settings
from ghnas.evaluation.ground_truth import TrainingRecipe
from ghnas.ghn import build_ghn
from ghnas.search_spaces import build_search_space

REPO = Path(__file__).resolve().parents[1]
YAMLS = sorted(REPO.glob("configs/**/*.yaml")) + sorted(REPO.glob("projects/*/configs/**/*.yaml"))


def test_there_are_configs():
    assert len(YAMLS) >= 3


def project_config_hooks(path: Path):
    """The ``add_*_config`` functions of the project a YAML belongs to (none for core YAMLs).

    A project keeps its package(s) in ``projects/<Name>/``; importing them registers its parts.
    """
    relative = path.relative_to(REPO)
    if relative.parts[0] != "projects":
        return []
    project = REPO / "projects" / relative.parts[1]
    sys.path.insert(0, str(project))
    hooks = []
    for package in sorted(p.parent.name for p in project.glob("*/__init__.py")):
        module = importlib.import_module(package)
        hooks += [getattr(module, n) for n in dir(module) if re.fullmatch(r"add_\w+_config", n)]
    return hooks


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_loads_and_builds(path):
    cfg = get_cfg()
    for hook in project_config_hooks(path):
        hook(cfg)
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
