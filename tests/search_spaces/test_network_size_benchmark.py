"""benchmarks/network_size.py: its counts equal the built networks' and its table prints."""

import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import network_size  # noqa: E402

CONFIG = str(REPO / "configs" / "classification_cifar10.yaml")


def test_counts_are_those_of_the_built_networks_and_the_kinds_add_up():
    space = network_size.space_at(CONFIG, 8)
    totals, by_kind = network_size.measure(space, num_archs=3, seed=4)
    rng = np.random.default_rng(4)
    expected = [sum(p.numel() for p in space.build_network(space.sample(rng)).parameters())
                for _ in range(3)]  # fmt: skip
    assert np.allclose(totals * 1e6, expected)
    # One architecture: its kinds and its BN parameters add up to its count.
    [total], by_kind = network_size.measure(space, num_archs=1, seed=4)
    with torch.device("meta"):
        network = space.build_network(space.sample(np.random.default_rng(4)))
    bn = sum(p.numel() for m in network.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             for p in m.parameters())  # fmt: skip
    assert round(sum(by_kind.values()) * 1e6) + bn == round(total * 1e6)
    assert {"Bottleneck", "classifier", "stem"} <= set(by_kind)


def test_the_table_prints(capsys):
    network_size.main(["--config-file", CONFIG, "--widths", "8,6", "--num-archs", "2"])
    out = capsys.readouterr().out
    assert "|   F |" in out and "F giving the paper's 4.6 M:" in out
