"""GHN throughput: batched vs one architecture at a time vs the node-by-node reference.

Architectures/s (median of ``--repeats`` after one warm-up) on random architectures of the
classification space (CIFAR-like: 10 classes, 3 channels, 32 px), forward-backward propagation,
under ``torch.no_grad()`` (inference, as in ranking), of propagation (``ghn.embed(packed)``) and
full generation (``ghn(packed)``: propagation + hypernet), each ``batched`` (``--num-archs``
packed together), ``one at a time`` (the batched code on single-graph packs) and ``reference``
(``ghnas.ghn.reference``, node by node, on ``--reference-archs`` only; always on CPU). A training
column (forward + backward of the sum of all generated weights) compares batched and one at a
time. Graph building (``space.to_graph``) and packing (``ghn.pack``) are timed apart and are NOT
in those figures; an end-to-end ``ghn.generate(space, archs)`` figure includes them. Batched and
reference embeddings and weights are first checked to agree within 1e-4.

    python benchmarks/ghn_throughput.py          # N=17 B=18 F=32 T=5, 32 archs: ~3 min, 1 core
    python benchmarks/ghn_throughput.py --num-archs 8 --repeats 1 --reference-archs 1  # quick
"""

import argparse
import copy
import statistics
import time
from functools import partial

import numpy as np
import torch
from tabulate import tabulate

from ghnas.config.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn.build import build_ghn
from ghnas.ghn.reference import reference_embed, reference_generate
from ghnas.search_spaces.classification import ClassificationSearchSpace

TOLERANCE = 1e-4


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-archs", type=int, default=32, help="architectures packed together")
    p.add_argument("--nodes", type=int, default=17, help="N: op nodes per block")
    p.add_argument("--blocks", type=int, default=18, help="B: blocks per network")
    p.add_argument("--channels", type=int, default=32, help="F: MODEL.INIT_CHANNELS")
    p.add_argument("--passes", type=int, default=5, help="T: GHN.NUM_PASSES")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    p.add_argument("--reference-archs", type=int, default=2, help="archs timed by the reference")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the reference stays on CPU)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def median_seconds(fn, repeats: int, device: str) -> float:
    """Median wall time of ``fn()`` after one untimed warm-up call."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fn(), sync()  # warm-up
    times = []  # each call's result is dropped inside the timed region, as in real use
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def each(fn, items) -> None:
    """Call ``fn`` on every item, dropping each result before the next call (one at a time)."""
    for item in items:
        fn(item)


def max_abs_diff(ghn, ref_ghn, packed, count: int) -> tuple:
    """Largest |batched - reference| (embeddings, weights) on the first ``count`` packed archs."""
    h, weights, graphs = ghn.embed(packed).cpu(), ghn(packed), packed.graphs[:count]
    d_h = d_w = 0.0
    for i, (graph, ref_w) in enumerate(zip(graphs, reference_generate(ref_ghn, graphs))):
        index = packed.global_index[i]
        for v, ref_h in reference_embed(ref_ghn, graph).items():
            d_h = max(d_h, (h[int(index[v])] - ref_h).abs().max().item())
        assert ref_w.keys() == weights[i].keys(), "batched and reference names differ"
        for name, w in ref_w.items():
            d_w = max(d_w, (weights[i][name].cpu() - w).abs().max().item())
    return d_h, d_w


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    meta = DatasetMetadata(10, 3, 32, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    space = ClassificationSearchSpace(
        num_nodes=args.nodes, num_blocks=args.blocks, init_channels=args.channels, meta=meta
    )
    cfg = get_cfg()
    cfg.GHN.PROPAGATION, cfg.GHN.NUM_PASSES = "forward_backward", args.passes
    cfg.MODEL.DEVICE = args.device
    ghn = build_ghn(cfg, space).eval()
    ref_ghn = copy.deepcopy(ghn).cpu()
    ref_embed = partial(reference_embed, ref_ghn)
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.num_archs)]
    n, n_ref, dev = args.num_archs, min(args.reference_archs, args.num_archs), args.device

    def timed(fn, device=dev) -> float:
        return median_seconds(fn, args.repeats, device)

    # Host-side preparation, timed apart and excluded from every figure below.
    t_graph = timed(lambda: [space.to_graph(a) for a in archs])
    graphs = [space.to_graph(a) for a in archs]
    t_pack = timed(lambda: ghn.pack(graphs))
    t_pack1 = timed(lambda: [ghn.pack([g]) for g in graphs])
    packed, singles, ref_graphs = ghn.pack(graphs), [ghn.pack([g]) for g in graphs], graphs[:n_ref]
    print(
        f"N={args.nodes} B={args.blocks} F={args.channels} T={args.passes}, {n} archs "
        f"({packed.num_nodes} nodes packed), forward_backward, device={dev}, threads="
        f"{args.threads}, torch {torch.__version__}, median of {args.repeats} after 1 warm-up"
    )

    with torch.no_grad():
        d_h, d_w = max_abs_diff(ghn, ref_ghn, packed, n_ref)
        ok = d_h < TOLERANCE and d_w < TOLERANCE
        print(
            f"sanity: batched ({n} packed) vs reference on {n_ref} archs: max |diff| "
            f"embeddings {d_h:.2e}, weights {d_w:.2e} "
            f"({'OK' if ok else 'FAILED'}, tolerance {TOLERANCE:g})"
        )
        if not ok:
            raise SystemExit("batched and reference outputs disagree; timings would be moot")
        t = {
            ("batched", "embed"): timed(lambda: ghn.embed(packed)),
            ("batched", "gen"): timed(lambda: ghn(packed)),
            ("single", "embed"): timed(lambda: each(ghn.embed, singles)),
            ("single", "gen"): timed(lambda: each(ghn, singles)),
            ("ref", "embed"): timed(lambda: each(ref_embed, ref_graphs), "cpu"),
            ("ref", "gen"): timed(lambda: reference_generate(ref_ghn, ref_graphs), "cpu"),
        }
        t_e2e = timed(lambda: ghn.generate(space, archs))

    def train_step(p) -> None:
        weights = ghn(p)
        torch.stack([w.sum() for d in weights for w in d.values()]).sum().backward()

    ghn.train()
    t[("batched", "train")] = timed(lambda: train_step(packed))
    t[("single", "train")] = timed(lambda: each(train_step, singles))
    ghn.zero_grad(set_to_none=True)

    counts = {"batched": n, "single": n, "ref": n_ref}
    rate = {key: counts[key[0]] / seconds for key, seconds in t.items()}
    labels = {
        "batched": f"batched ({n} packed together)",
        "single": f"one at a time ({n} x 1, batched code)",
        "ref": f"node-by-node reference ({n_ref} x 1, CPU)",
    }
    cols = ("embed", "gen", "train")
    rows = [
        [labels[m], counts[m]] + [f"{rate[(m, c)]:.2f}" if (m, c) in rate else "-" for c in cols]
        for m in labels
    ]
    for other, name in (("ref", "batched / reference"), ("single", "batched / one at a time")):
        ratio = {c: rate[("batched", c)] / rate[(other, c)] for c in cols if (other, c) in rate}
        rows.append([name, ""] + [f"{ratio[c]:.1f}x" if c in ratio else "-" for c in cols])
    headers = ["mode", "archs", "propagation/s", "generation/s", "train f+b/s"]
    print("\nArchitectures/s; no_grad except train f+b; graph building and packing excluded")
    print(tabulate(rows, headers=headers))

    prep = [
        [f"space.to_graph x {n}", t_graph, n / t_graph],
        [f"ghn.pack ({n} together)", t_pack, n / t_pack],
        [f"ghn.pack ({n} x 1)", t_pack1, n / t_pack1],
        ["end to end: ghn.generate(space, archs), batched", t_e2e, n / t_e2e],
    ]
    print("\nGraph building and packing (not in the figures above), and end to end including them")
    print(tabulate(prep, headers=["step", "seconds", "archs/s"], floatfmt=".3f"))

    speedups = [rate[("batched", c)] / rate[("ref", c)] for c in ("embed", "gen")]
    verdict = "meets" if min(speedups) >= 10 else "MISSES"
    print(
        f"\nbatched vs reference: propagation {speedups[0]:.1f}x, full generation "
        f"{speedups[1]:.1f}x ({verdict} the >= 10x target for both)"
    )


if __name__ == "__main__":
    main()
