"""The accuracy criterion against a plain evaluation, and the Python API against the search."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_config import TINY_OVERRIDES

from ghnas.api import load_ghn
from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import build_ghn
from ghnas.layers.batch_statistics import batch_statistics
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.selection import AccuracyCriterion
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]


def test_accuracy_matches_plain_evaluation_and_leaves_buffers_alone():
    torch.manual_seed(0)
    meta = DatasetMetadata(10, 3, 8, (0.5,) * 3, (0.25,) * 3)
    space = ClassificationSearchSpace(num_nodes=4, num_blocks=3, init_channels=4, meta=meta)
    cfg = get_cfg()
    ghn = build_ghn(cfg, space)
    arch = space.sample(np.random.default_rng(3))
    with torch.no_grad():
        params = ghn.generate(space, [arch])[0]
    batches = [(torch.randn(20, 3, 8, 8), torch.randint(0, 10, (20,))) for _ in range(3)]

    network = space.build_network(arch)
    before = {k: v.clone() for k, v in network.state_dict().items() if "running" in k}
    score = AccuracyCriterion().evaluate(network, params, batches)["score"]
    after = {k: v for k, v in network.state_dict().items() if "running" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)

    # Independent reference: load the weights, train-mode BN on a throwaway copy.
    reference = space.build_network(arch)
    reference.load_state_dict(params, strict=False)
    reference.train()
    correct = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((F.softmax(reference(x), 1).argmax(1) == y).sum())
    assert score == correct / 60


def test_api_scores_equal_the_search_results(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    import train_net

    from ghnas.engine import default_argument_parser

    quick = str(REPO / "configs" / "quick" / "classification.yaml")
    args = default_argument_parser().parse_args(
        ["--config-file", quick, "OUTPUT_DIR", str(tmp_path), *TINY_OVERRIDES]
    )
    train_net.main(args)
    lines = (tmp_path / "search" / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]

    trained = load_ghn(str(tmp_path / "ghn" / "model_final.pth"))
    archs = [trained.space.architecture_from_dict(r["arch"]) for r in rows]
    from ghnas.data import build_dataset, evaluation_batches

    cfg = trained.cfg
    splits = build_dataset(cfg)
    batches = evaluation_batches(
        dataset=splits.val, meta=splits.meta, num_images=cfg.SEARCH.EVAL_IMAGES,
        batch_size=cfg.SEARCH.EVAL_BATCH_SIZE, seed=cfg.SEED, device="cpu",
    )  # fmt: skip
    assert trained.score(archs, batches) == [r["score"] for r in rows]
    assert trained.score(archs, trained.batches("val")) == [r["score"] for r in rows]
    assert trained.score(archs) == [r["score"] for r in rows]  # the validation batches
    network = trained.network_with_generated_weights(archs[0])
    assert torch.isfinite(network(batches[0][0])).all()
    # Calibrated on one batch, eval mode gives what batch-statistics BN gives on that batch (up
    # to the unbiased variance BN keeps); uncalibrated, the initial statistics do not.
    x = torch.cat([b[0] for b in batches])
    with torch.no_grad(), batch_statistics(network):
        want = network(x)
    calibrated = trained.network_with_generated_weights(archs[0], calibrate_bn=[(x, None)])
    with torch.no_grad():
        got, raw = calibrated.eval()(x), network.eval()(x)
    assert ((got - want).norm() / want.norm()).item() < 1e-2
    assert ((raw - want).norm() / want.norm()).item() > 0.1

    # A run made on a GPU opens on a machine without one: on the CPU by default.
    config = tmp_path / "config.yaml"
    text = config.read_text()
    assert "  DEVICE: cpu\n" in text
    config.write_text(text.replace("  DEVICE: cpu\n", "  DEVICE: cuda\n"))
    if not torch.cuda.is_available():
        again = load_ghn(str(tmp_path / "ghn" / "model_final.pth"))
        assert again.cfg.MODEL.DEVICE == "cpu"
        assert again.score(archs, batches) == [r["score"] for r in rows]
        with pytest.raises(GhnasError, match="no CUDA device is available"):
            load_ghn(str(tmp_path / "ghn" / "model_final.pth"), device="cuda")


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tools"))
    import train_net

    from ghnas.engine import default_argument_parser

    readme = (REPO / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    quick = str(REPO / "configs" / "quick" / "classification.yaml")
    run = tmp_path / "output" / "quick_classification"
    train_net.main(default_argument_parser().parse_args(
        ["--config-file", quick, "OUTPUT_DIR", str(run), *TINY_OVERRIDES, "PHASES", "ghn"]
    ))  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the example's relative path is the quick start's folder
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("best of 20: ")
