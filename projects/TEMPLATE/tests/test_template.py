"""The template space keeps the contract: graph requests match the network, FLOPs match fvcore,
and a GHN trains on it and ranks it through the core tool (run: pytest projects/TEMPLATE)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.plugins import installed_plugins
from ghnas.search_spaces import build_search_space
from ghnas.utils.flops import count_flops

if "template" not in installed_plugins():
    pytest.skip("the plug-in is not installed: pip install -e projects/TEMPLATE",
                allow_module_level=True)  # fmt: skip

HERE = Path(__file__).resolve().parents[1]
META = DatasetMetadata(num_classes=10, channels=1, image_size=16, mean=(0.5,), std=(0.2,))


def space():
    cfg = get_cfg(str(HERE / "configs" / "template.yaml"))
    return build_search_space(cfg, META)


@pytest.mark.parametrize("seed", range(4))
def test_requests_match_the_network_and_flops_match_fvcore(seed):
    chain = space()
    arch = chain.sample(np.random.default_rng(seed))
    network = chain.build_network(arch)
    params = dict(network.named_parameters())
    shapes = chain.generated_parameter_shapes(arch)
    assert list(shapes) == network.generated_parameter_names()
    assert all(tuple(params[name].shape) == shape for name, shape in shapes.items())
    assert chain.analytic_flops(arch) == count_flops(network, chain.input_shape)
    assert chain.architecture_from_dict(json.loads(json.dumps(arch.to_dict()))) == arch


def test_the_core_tool_trains_a_ghn_and_ranks_the_space(tmp_path):
    overrides = ["OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "5", "SEARCH.NUM_ARCHS", "3",
                 "SEARCH.EVAL_IMAGES", "50", "SEARCH.EVAL_BATCH_SIZE", "50"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(HERE.parents[1] / "tools" / "train_net.py"), "--config-file",
         str(HERE / "configs" / "template.yaml"), *overrides],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = (tmp_path / "search" / "results.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"ops"' in r]) == 3
