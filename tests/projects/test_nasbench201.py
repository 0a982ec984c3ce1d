"""projects/NASBench201: the plug-in space parses, builds the benchmark's networks, and runs."""

import csv
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import build_ghn
from ghnas.layers.batch_statistics import (
    batch_statistics,
    instantiate_for_generated_weights,
    run_with_generated_weights,
)
from ghnas.search_spaces import SEARCH_SPACE_REGISTRY, SearchSpace, build_search_space
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "NASBench201"
sys.path.insert(0, str(PROJECT))
from nasbench201 import NB201_OPS, NB201Architecture, add_nasbench201_config  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from conftest import require_shared_file  # noqa: E402

# The project is a plug-in: skipped (failed in CI) where it is not installed.
pytestmark = pytest.mark.usefixtures("nasbench201_plugin")

META = DatasetMetadata(num_classes=3, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
CIFAR = DatasetMetadata(num_classes=10, channels=3, image_size=32, mean=(0.5,) * 3, std=(0.2,) * 3)

# Special cells: all none; cut off from its input (nothing leaves node 0); dead ops (edge 1<-0
# feeds a node nothing reads, edge 3<-2 reads a node nothing writes); the densest cell.
ALL_NONE = NB201Architecture(("none",) * 6)
CUT_OFF = NB201Architecture(
    ("none", "none", "nor_conv_3x3", "none", "nor_conv_1x1", "nor_conv_3x3")
)
DEAD_OPS = NB201Architecture(
    ("nor_conv_3x3", "none", "none", "skip_connect", "none", "nor_conv_1x1")
)
DENSE = NB201Architecture(("nor_conv_3x3",) * 6)
SPECIAL = [ALL_NONE, CUT_OFF, DEAD_OPS, DENSE]


def project_cfg(**overrides):
    cfg = get_cfg()
    add_nasbench201_config(cfg)
    cfg.merge_from_file(str(PROJECT / "configs" / "Base-NASBench201.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    for key, value in overrides.items():
        section, field = key.split("__")
        cfg[section][field] = value
    return cfg


def space_for(meta=META, channels=16, cells=5):
    cfg = project_cfg(NASBENCH201__CHANNELS=channels, NASBENCH201__CELLS_PER_STAGE=cells)
    return build_search_space(cfg, meta)


def table_rows():
    with open(require_shared_file("nasbench201/nasbench201.csv"), newline="") as f:
        return list(csv.DictReader(f))


# --- architectures -------------------------------------------------------------------------


def test_string_round_trip_and_dict_form():
    text = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    arch = NB201Architecture.from_string(text)
    assert arch.ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect",
                        "nor_conv_3x3", "skip_connect")  # fmt: skip
    assert arch.to_string() == text and str(arch) == text
    assert NB201Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    rng = np.random.default_rng(0)
    space = space_for()
    for _ in range(50):
        a = space.sample(rng)
        assert NB201Architecture.from_string(a.to_string()) == a
        assert space.architecture_from_dict(a.to_dict()) == a


def test_every_table_string_round_trips():
    for row in table_rows():
        assert NB201Architecture.from_string(row["arch_str"]).to_string() == row["arch_str"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
        None,
    ],
)
def test_malformed_strings_are_one_line_errors(text):
    with pytest.raises(GhnasError) as info:
        NB201Architecture.from_string(text)
    assert "\n" not in str(info.value)


def test_malformed_constructions_and_dicts():
    for ops in [("none",) * 5, ("none",) * 5 + ("conv_3x3",), "none"]:
        with pytest.raises(GhnasError):
            NB201Architecture(ops)
    for data in [{}, {"arch_str": 3}, [], {"nodes": []}]:
        with pytest.raises(GhnasError):
            NB201Architecture.from_dict(data)


def test_live_edges_and_canonical_hash():
    assert ALL_NONE.live_edges == () and CUT_OFF.live_edges == ()
    assert DEAD_OPS.live_edges == (3,)
    assert DENSE.live_edges == tuple(range(6))
    # Dead ops do not change what the cell computes, so the hash ignores them.
    only_skip = NB201Architecture(("none", "none", "none", "skip_connect", "none", "none"))
    assert DEAD_OPS.canonical_hash == only_skip.canonical_hash
    assert ALL_NONE.canonical_hash == CUT_OFF.canonical_hash
    assert DENSE.canonical_hash != only_skip.canonical_hash
    # Swapping the two parallel paths 0->1->3 and 0->2->3 is an isomorphism.
    a = NB201Architecture(("nor_conv_1x1", "avg_pool_3x3", "none", "none", "skip_connect",
                           "nor_conv_3x3"))  # fmt: skip
    b = NB201Architecture(("avg_pool_3x3", "nor_conv_1x1", "none", "none", "nor_conv_3x3",
                           "skip_connect"))  # fmt: skip
    assert a.canonical_hash == b.canonical_hash


# --- the space -----------------------------------------------------------------------------


def test_space_registers_and_describes_itself():
    assert "nasbench201" in {name for name, _ in SEARCH_SPACE_REGISTRY}
    space = space_for()
    assert isinstance(space, SearchSpace) and space.name == "nasbench201"
    assert space.num_modules == 17 and not space.early_exits
    assert space.describe() == {"channels": 16, "cells_per_stage": 5}
    assert space.input_shape == (3, 8, 8)
    with pytest.raises(GhnasError):
        space_for(DatasetMetadata(3, 3, 6, (0.5,) * 3, (0.2,) * 3))
    rng = np.random.default_rng(0)
    seen = {space.sample(rng).ops for _ in range(400)}
    assert len(seen) > 350  # uniform over 15,625 cells: few repeats
    assert {op for ops in seen for op in ops} == set(NB201_OPS)


def test_parameter_count_equals_the_table():
    rows = table_rows()
    space = space_for(CIFAR)
    picked = np.random.default_rng(0).choice(len(rows), size=10, replace=False)
    for i in list(picked) + [0]:
        arch = NB201Architecture.from_string(rows[i]["arch_str"])
        with torch.device("meta"):
            count = sum(p.numel() for p in space.build_network(arch).parameters())
        assert round(count / 1e6, 6) == pytest.approx(float(rows[i]["params_M_cifar10"]), abs=1e-6)


@pytest.mark.parametrize("cells", [5, 1])
def test_analytic_flops_equal_fvcore(cells):
    space = space_for(META, channels=8, cells=cells)
    rng = np.random.default_rng(1)
    for arch in SPECIAL + [space.sample(rng) for _ in range(4)]:
        net = space.build_network(arch)
        assert space.analytic_flops(arch) == count_flops(net, space.input_shape), arch


def test_ghn_generates_exactly_the_network_weights():
    space = space_for(META, channels=4, cells=5)
    cfg = project_cfg(NASBENCH201__CHANNELS=4)
    cfg.GHN.NUM_PASSES = 1
    cfg.GHN.HIDDEN_SIZE = cfg.GHN.MESSAGE_HIDDEN_SIZE = cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    torch.manual_seed(0)
    ghn = build_ghn(cfg, space)
    rng = np.random.default_rng(2)
    archs = SPECIAL + [space.sample(rng) for _ in range(4)]
    graphs = [space.to_graph(a) for a in archs]
    for graph in graphs:
        assert graph.num_modules == 17
        assert set(graph.node_types) <= set(space.op_vocabulary)
    # All archs pack together (a cut-off cell's module holds its sink alone, or stem + sink).
    generated = ghn.generate_for_graphs(graphs)
    loss = 0.0
    x = torch.randn(4, *space.input_shape)
    for arch, params in zip(archs, generated):
        net = space.build_network(arch)
        assert list(params) == net.generated_parameter_names(), arch
        assert space.generated_parameter_shapes(arch) == {k: v.shape for k, v in params.items()}
        with batch_statistics(net):
            out = functional_call(net, params, (x,), strict=False)
        assert out.shape == (4, META.num_classes) and torch.isfinite(out).all()
        loss = loss + out.square().mean()
    loss.backward()
    grads = [p.grad for p in ghn.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_left_out_weights_cannot_change_the_output():
    """The conv weights of dead edges (never generated) do not affect the logits (BN affine,
    never generated either, keeps its initial 1 and 0); a cut-off cell outputs zeros."""
    space = space_for(META, channels=4, cells=1)
    x = torch.randn(4, *space.input_shape)
    for arch in (DEAD_OPS, CUT_OFF):
        torch.manual_seed(0)
        net = space.build_network(arch)
        params = {n: p.detach().clone() for n, p in net.named_parameters()}
        generated = set(net.generated_parameter_names())
        with torch.no_grad(), batch_statistics(net):
            before = functional_call(net, params, (x,))
            for name in params:
                if name.endswith("conv.weight") and name not in generated:
                    params[name].normal_()
            after = functional_call(net, params, (x,))
        assert torch.equal(before, after)
    cell = space.build_network(CUT_OFF).cells[0]
    assert torch.count_nonzero(cell(torch.randn(2, 4, 8, 8))) == 0


def _tiny_ghn(space, channels=4, seed=0):
    cfg = project_cfg(NASBENCH201__CHANNELS=channels)
    cfg.GHN.NUM_PASSES = 1
    cfg.GHN.HIDDEN_SIZE = cfg.GHN.MESSAGE_HIDDEN_SIZE = cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    torch.manual_seed(seed)
    return build_ghn(cfg, space)


@pytest.mark.parametrize("cells,group", [(1, 0), (2, 0), (1, 1), (2, 5)])
def test_fused_network_equals_each_network_on_its_own(cells, group):
    """Logits and GHN gradients of the fused pass equal the per-network forward (reference):
    random cells plus all-none, cut-off, dead-op and dense ones, in groups of ``group``
    networks (0: one pass for all, edges bucketed by op)."""
    space = space_for(META, channels=4, cells=cells)
    space.fused_group = group
    ghn = _tiny_ghn(space)
    rng = np.random.default_rng(cells)
    archs = SPECIAL + [space.sample(rng) for _ in range(10)]
    x = torch.randn(6, *space.input_shape)
    fused_params = ghn.generate(space, archs)
    fused = space.build_fused_network(archs)(fused_params, x)
    fused.square().mean().backward()
    fused_grads = [p.grad.clone() for p in ghn.parameters() if p.grad is not None]
    ghn.zero_grad()
    reference = []
    for arch, params in zip(archs, ghn.generate(space, archs)):
        network = instantiate_for_generated_weights(space, arch, "cpu")
        reference.append(run_with_generated_weights(network, params, x))
    reference = torch.stack(reference)
    reference.square().mean().backward()
    assert fused.shape == (len(archs), 6, META.num_classes)
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-5)  # float rounding
    assert torch.count_nonzero(fused[0] - fused[0][0]) == 0  # all-none: every image alike
    grads = [p.grad for p in ghn.parameters() if p.grad is not None]
    assert len(grads) == len(fused_grads)
    for got, want in zip(fused_grads, grads):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)


def test_scorer_and_trainer_use_the_fused_network_with_equal_results(monkeypatch):
    """MODEL.FUSED_NETWORKS on and off give the same scores and the same training loss; on,
    no network is built one at a time."""
    from ghnas.search import ArchitectureScorer
    from ghnas.selection.accuracy import AccuracyCriterion

    space = space_for(META, channels=4, cells=1)
    ghn = _tiny_ghn(space)
    rng = np.random.default_rng(5)
    archs = SPECIAL + [space.sample(rng) for _ in range(6)]
    x, y = torch.randn(10, *space.input_shape), torch.arange(10) % META.num_classes
    batches = [(x, y), (x[:5], y[:5])]
    scores = {}
    for fused in (True, False):
        scorer = ArchitectureScorer(ghn=ghn, space=space, criterion=AccuracyCriterion(),
                                    batches=batches, arch_batch=4, fused=fused)  # fmt: skip
        scores[fused] = scorer.score(archs)
    assert scores[True] == scores[False]
    assert len(set(scores[True])) > 1  # the comparison can fail

    import ghnas.trainers.ghn_loss as loss_module

    losses = [
        loss_module.mean_loss(space, archs, ghn.generate(space, archs), x, y, fused=fused)
        for fused in (True, False)
    ]
    torch.testing.assert_close(losses[0], losses[1])

    def refuse(*args, **kwargs):
        raise AssertionError("built a network one at a time")

    monkeypatch.setattr(loss_module, "instantiate_for_generated_weights", refuse)
    loss_module.mean_loss(space, archs, ghn.generate(space, archs), x, y, fused=True)


def test_end_to_end_core_train_net_with_the_plugin(tmp_path, monkeypatch):
    """The core tools/train_net.py, with the installed plug-in, trains the GHN and ranks
    architectures of the project's space (digits at 8×8)."""
    out = tmp_path / "out"
    argv = [
        "train_net.py", "--config-file", str(PROJECT / "configs" / "quick.yaml"),
        "OUTPUT_DIR", str(out), "DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", "100",
        "INPUT.SIZE", "8", "INPUT.CROP_PADDING", "1", "INPUT.HORIZONTAL_FLIP", "False",
        "NASBENCH201.CHANNELS", "4", "NASBENCH201.CELLS_PER_STAGE", "1", "GHN.NUM_PASSES", "1",
        "SOLVER.IMS_PER_BATCH", "8", "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "1",
        "SOLVER.LOG_PERIOD", "1", "SEARCH.NUM_ARCHS", "4", "SEARCH.TOP_K", "2",
        "SEARCH.EVAL_IMAGES", "16", "SEARCH.EVAL_BATCH_SIZE", "16",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(REPO / "tools" / "train_net.py"), run_name="__main__")
    assert info.value.code in (0, None)
    lines = (out / "search" / "results.jsonl").read_text().splitlines()
    archs = [json.loads(line) for line in lines]  # rows only: the header is results_meta.json
    assert len(archs) == 4
    for row in archs:
        NB201Architecture.from_dict(row["arch"])


def test_a_config_without_the_project_keys_gets_their_defaults():
    """Core tests walk the registry with core configs once the project is imported."""
    space = build_search_space(_core_cfg(), META)
    assert space.describe() == {"channels": 16, "cells_per_stage": 5}


def _core_cfg():
    cfg = get_cfg()
    cfg.SEARCH_SPACE.NAME = "nasbench201"
    cfg.freeze()
    return cfg


def test_ranking_benchmark_runs_end_to_end(tmp_path):
    """A tiny benchmark: GHN on x_train, K=12 scored on x_test with every baseline beside it,
    metrics after scoring; resumed, nothing is scored again."""
    table = require_shared_file("nasbench201/nasbench201.csv")
    data = require_shared_file("cifar10/cifar10-1k.npz")
    import benchmark_ranking

    args = benchmark_ranking.parser().parse_args(
        ["--config-file", str(PROJECT / "configs" / "quick.yaml"), "--num-archs", "12",
         "--table", str(table), "--baseline-network", "4,1", "--bootstrap", "50",
         "--baseline-archs", "2",
         "OUTPUT_DIR", str(tmp_path), "DATASETS.PATH", str(data), "SOLVER.MAX_ITER", "3",
         "NASBENCH201.CHANNELS", "4", "ZERO_COST.BATCH_SIZE", "8"]
    )  # fmt: skip
    report = benchmark_ranking.main(args)
    assert report["num_archs"] == 12 and report["num_unique"] <= 12
    names = [r["estimator"] for r in report["estimators"]]
    baselines = ["parameters", "FLOPs", "naswot", "synflow", "snip", "grad_norm", "jacob_cov"]
    assert names == ["GHN (expected_accuracy)", "GHN (accuracy)", "one-shot supernet",
                     *[f"{b} (C=4, N=1)" for b in baselines],
                     "12-epoch training (table)"]  # fmt: skip
    for row in report["estimators"] + report["estimators_unique"]:
        assert all(-1 <= row[k] <= 1 for k in row if k.endswith("(all)")), row
    lines = (tmp_path / "benchmark" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 12
    rows = [json.loads(line) for line in lines]
    assert all(0 <= r["score"] <= 1 and 0 <= r["accuracy"] <= 1 for r in rows)
    assert all(set(r["baselines"]) == set(baselines) for r in rows)
    assert all(0 <= r["one_shot"]["score"] <= 1 for r in rows)
    assert (tmp_path / "one_shot" / "model_final.pth").is_file()

    # Resumed: nothing is scored again and the report reads the same rows.
    again = benchmark_ranking.main(
        benchmark_ranking.parser().parse_args(["--resume", *args_list(args)])
    )
    assert again["ranked_this_run"] == 0
    assert again["estimators"] == report["estimators"]  # costs too: the rows keep their times
    assert again["ranking_archs_per_s"] == pytest.approx(report["ranking_archs_per_s"])
    assert report["estimators"][0]["cost"].endswith(" s/arch")
    assert (tmp_path / "benchmark" / "results.jsonl").read_text().splitlines() == lines

    # Cut after 5 rows (as a kill or --time-limit would) and resumed: the same rows as uncut
    # (each architecture's baselines are seeded by the architecture, not by the run).
    results = tmp_path / "benchmark" / "results.jsonl"
    results.write_text("\n".join(lines[:5]) + "\n")
    benchmark_ranking.main(benchmark_ranking.parser().parse_args(["--resume", *args_list(args)]))

    def timeless(line):
        row = json.loads(line)
        return {k: v for k, v in row.items() if k not in ("baseline_seconds", "scoring_seconds")}

    assert [timeless(x) for x in results.read_text().splitlines()] == list(map(timeless, lines))
    # The table beside it: the same rows, one column per baseline.
    with open(tmp_path / "benchmark" / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["hash"] for r in table] == [json.loads(line)["hash"] for line in lines]
    assert all(float(r["baselines.parameters"]) == json.loads(line)["baselines"]["parameters"]
               for r, line in zip(table, lines))  # fmt: skip


def args_list(args):
    """The command line of a parsed benchmark ``args`` (without --resume)."""
    return ["--config-file", args.config_file, "--num-archs", str(args.num_archs),
            "--table", args.table, "--baseline-network", args.baseline_network,
            "--bootstrap", str(args.bootstrap), "--baseline-archs", str(args.baseline_archs),
            *args.opts]  # fmt: skip
