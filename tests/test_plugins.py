"""Plug-ins through the ``ghnas.plugins`` entry-point group: discovered, their keys in every
config, recorded in a run's config.yaml, refused in one line when missing or broken; and an
installed project run by the core tools (train, load_ghn on CPU, export)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import require_shared_file

from ghnas.api import load_ghn
from ghnas.config import get_cfg
from ghnas.plugins import installed_plugins
from ghnas.selection.build import SELECTION_REGISTRY
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def plugin_root(tmp_path, monkeypatch):
    """A folder on sys.path where :func:`add_plugin` installs distributions (no pip)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    installed_plugins.cache_clear()
    yield tmp_path
    installed_plugins.cache_clear()


def add_plugin(root: Path, name: str, body: str) -> None:
    """A distribution whose entry point ``name`` is ``<name>_pkg:add_config``."""
    (root / f"{name}_pkg").mkdir()
    (root / f"{name}_pkg" / "__init__.py").write_text(body)
    info = root / f"{name}_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ghnas.plugins]\n{name} = {name}_pkg:add_config\n")


PLUGIN = """
from ghnas.config import CfgNode
from ghnas.selection.build import SELECTION_REGISTRY

@SELECTION_REGISTRY.register()
def fake_criterion(cfg):
    return None

def add_config(cfg):
    cfg.FAKE = CfgNode()
    cfg.FAKE.SIZE = 3
"""


def test_an_installed_plugin_registers_and_adds_its_keys(plugin_root, tmp_path):
    add_plugin(plugin_root, "fake", PLUGIN)
    try:
        cfg = get_cfg()
        assert cfg.FAKE.SIZE == 3 and "fake" in cfg.PLUGINS
        assert "fake_criterion" in SELECTION_REGISTRY
        # Recorded in a dump; a file naming a plug-in not installed here is refused.
        config = yaml.safe_load(cfg.dump())
        assert "fake" in config["PLUGINS"]
        config["PLUGINS"].append("ghost")
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        with pytest.raises(GhnasError, match="made with plug-in 'ghost', which is not installed"):
            get_cfg(str(tmp_path / "run.yaml"))
    finally:
        SELECTION_REGISTRY._obj_map.pop("fake_criterion", None)


def test_a_broken_plugin_and_a_missing_section_are_one_line(plugin_root, tmp_path):
    add_plugin(plugin_root, "broken", "raise ImportError('needs a package')\n")
    with pytest.raises(GhnasError, match=r"plug-in 'broken' \(broken_pkg:add_config\) failed "
                       "to load: needs a package"):  # fmt: skip
        get_cfg()
    installed_plugins.cache_clear()
    (plugin_root / "broken_pkg-0.1.dist-info" / "entry_points.txt").unlink()
    (tmp_path / "x.yaml").write_text("NOPE:\n  SIZE: 1\n")
    with pytest.raises(GhnasError, match="NOPE is no section .* pip install -e projects/"):
        get_cfg(str(tmp_path / "x.yaml"))


@pytest.mark.usefixtures("nasbench201_plugin")
def test_an_installed_project_runs_through_the_core_tools(tmp_path):
    """tools/train_net.py, then load_ghn on CPU, then tools/export_model.py, from a folder
    outside the repository: nothing but the installed plug-in brings the space in."""
    data = require_shared_file("cifar10/cifar10-1k.npz")
    run = tmp_path / "run"
    tiny = ["SOLVER.MAX_ITER", "2", "SEARCH.NUM_ARCHS", "3", "NASBENCH201.CHANNELS", "4",
            "DATASETS.PATH", str(data), "EXPORT.ONNX", "False", "EXPORT.BN_IMAGES", "32",
            "SEARCH.EVAL_IMAGES", "32", "SEARCH.EVAL_BATCH_SIZE", "32"]  # fmt: skip

    def tool(name, *args):
        done = subprocess.run([sys.executable, str(REPO / "tools" / name), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]

    quick = str(REPO / "projects" / "NASBench201" / "configs" / "quick.yaml")
    tool("train_net.py", "--config-file", quick, "OUTPUT_DIR", str(run), *tiny)
    assert "nasbench201" in yaml.safe_load((run / "config.yaml").read_text())["PLUGINS"]
    trained = load_ghn(str(run / "ghn" / "model_final.pth"), device="cpu")
    archs = trained.sample(2, seed=0)
    assert len(trained.score(archs, trained.batches("val"))) == 2
    tool("export_model.py", "--config-file", str(run / "config.yaml"), "--arch",
         str(run / "search" / "results.jsonl"), "--weights", "ghn", *tiny)  # fmt: skip
    assert len(list((run / "export").glob("*/model.pt2"))) == 1
