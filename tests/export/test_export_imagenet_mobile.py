"""A CIFAR-style block transferred to imagenet_mobile and exported under a FLOP budget."""

import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.metadata import DatasetMetadata
from ghnas.export import load
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.trainers.searched import space_at_width
from ghnas.utils.flops import count_flops

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "imagenet_mobile.yaml")
sys.path.insert(0, str(REPO / "tools"))
import export_model  # noqa: E402
import train_net  # noqa: E402


def image_folder(root: Path) -> None:
    """32 small images of 2 classes (the ImageFolder loader resizes them to INPUT.SIZE)."""
    rng = np.random.default_rng(0)
    for label in range(2):
        (root / f"class{label}").mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            pixels[..., label] = 255
            Image.fromarray(pixels).save(root / f"class{label}" / f"{i}.png")


def test_transferred_block_exports_with_ghn_weights_under_the_budget(tmp_path):
    image_folder(tmp_path / "images")
    overrides = [
        "OUTPUT_DIR", str(tmp_path / "out"), "MODEL.DEVICE", "cpu",
        "DATASETS.ROOT", str(tmp_path / "images"), "DATASETS.VAL_SIZE", "8", "INPUT.SIZE", "64",
        "SEARCH_SPACE.NUM_NODES", "5", "SEARCH_SPACE.NUM_BLOCKS", "5", "GHN.TRAIN_NUM_NODES", "3",
        "GHN.NUM_PASSES", "1",
        "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "8", "EXPORT.BN_IMAGES", "16",
        "EXPORT.ONNX", "False",  # tests/export/test_export_bundle.py covers it
        "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    train_net.main(Namespace(config_file=CONFIG, resume=False,
                             opts=overrides + ["PHASES", "['ghn']"]))  # fmt: skip
    # A block as a CIFAR search writes it (another node count than the GHN trained on).
    meta = DatasetMetadata(10, 3, 32, (0.5,) * 3, (0.25,) * 3)
    cifar = ClassificationSearchSpace(num_nodes=6, num_blocks=3, init_channels=8, meta=meta)
    block = cifar.sample(np.random.default_rng(3))
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(json.dumps(block.to_dict()))
    # The budget admits F=6 but not F=7: the GHN (F=8) can generate it.
    cfg = get_cfg(CONFIG)
    cfg.merge_from_list(overrides)
    space_at = space_at_width(cfg, build_dataset(cfg).meta)
    budget = float(space_at(6).analytic_flops(block) + 1)
    assert space_at(7).analytic_flops(block) > budget
    args = Namespace(
        config_file=CONFIG, resume=False, arch=str(arch_file), rank=None, weights="ghn",
        opts=overrides + ["EXPORT.FLOP_BUDGET", str(budget), "EXPORT.MIN_CHANNELS", "1"],
    )  # fmt: skip
    bundle = Path(export_model.main(args))
    description = json.loads((bundle / "arch.json").read_text())
    assert description["space"] == "imagenet_mobile" and description["channels"] == 6
    network = load(str(bundle))
    assert count_flops(network, (3, 64, 64)) <= budget
    program = torch.export.load(str(bundle / "model.pt2")).module()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(program(x), network(x), rtol=1e-4, atol=1e-5)
