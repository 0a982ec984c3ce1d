#!/usr/bin/env python
"""Parameter count of random architectures of a search space at several widths F, beside the
paper's figure, and what each kind of module holds.

    python benchmarks/network_size.py [--config-file configs/classification_cifar10.yaml] \
        [--widths 32,24,25] [--num-archs 100] [--paper 4.6]

Networks are built on the meta device (no memory, no weights), so 100 architectures at F=32
take seconds. The paper's Table 1 reports 4.6 ± 0.6 M parameters for random architectures of
its CIFAR-10 space at F=32; the width at which ours average the same is printed last.
"""

import argparse
import collections
import sys

import numpy as np
import torch
from tabulate import tabulate

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import build_search_space

CIFAR10 = DatasetMetadata(num_classes=10, channels=3, image_size=32, mean=(0.5,) * 3,
                          std=(0.25,) * 3)  # fmt: skip


def space_at(config_file: str, width: int):
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.MODEL.INIT_CHANNELS, cfg.MODEL.DEVICE = width, "cpu"
    return build_search_space(cfg, CIFAR10)


def measure(space, num_archs: int, seed: int):
    """Parameter counts (millions) of ``num_archs`` seeded random architectures, and the mean
    millions held by each kind of module that has parameters of its own."""
    rng = np.random.default_rng(seed)
    totals, by_kind = [], collections.Counter()
    for _ in range(num_archs):
        with torch.device("meta"):
            network = space.build_network(space.sample(rng))
        totals.append(sum(p.numel() for p in network.parameters()) / 1e6)
        for name, module in network.named_modules():
            own = sum(p.numel() for p in module.parameters(recurse=False))
            if own and not isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                by_kind[owner_kind(network, name)] += own / 1e6 / num_archs
    return np.array(totals), by_kind


def owner_kind(network, name: str) -> str:
    """What a layer of parameters belongs to: the class of the module holding it (the op, such
    as ``SepConv``, or a block's input ``Bottleneck``), or its top-level name (``stem``)."""
    parent = name.rpartition(".")[0]
    holder = network.get_submodule(parent) if parent else network
    if holder is network or isinstance(holder, (torch.nn.ModuleList, torch.nn.Sequential)):
        return name.split(".")[0]
    return type(holder).__name__


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config-file", default="configs/classification_cifar10.yaml")
    p.add_argument("--widths", default="32,24,25", help="values of F (MODEL.INIT_CHANNELS)")
    p.add_argument("--num-archs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paper", type=float, default=4.6, help="the paper's mean, millions")
    args = p.parse_args(argv)
    rows, kinds = [], {}
    for width in (int(w) for w in args.widths.split(",")):
        totals, by_kind = measure(space_at(args.config_file, width), args.num_archs, args.seed)
        rows.append({"F": width, "mean (M)": totals.mean(), "sd (M)": totals.std(ddof=1),
                     "min (M)": totals.min(), "max (M)": totals.max(),
                     "vs paper": totals.mean() / args.paper})  # fmt: skip
        kinds[width] = by_kind
    print(f"{args.num_archs} random architectures of {args.config_file}; the paper: "
          f"{args.paper} M at F=32")  # fmt: skip
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".2f"))
    first = rows[0]["F"]
    share = sorted(kinds[first].items(), key=lambda kv: -kv[1])
    print(f"\nwhere the parameters are at F={first} (mean millions per network; BN excluded)")
    print(tabulate(share, headers=["module", "M"], tablefmt="github", floatfmt=".2f"))
    # Parameters grow as F²: the width at which the mean meets the paper's figure.
    matched = first * (args.paper / rows[0]["mean (M)"]) ** 0.5
    print(f"\nF giving the paper's {args.paper} M: {matched:.1f}")


if __name__ == "__main__":
    sys.exit(main())
