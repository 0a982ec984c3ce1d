"""The export bundle: files, manifest, budget, a torch.export program that runs without ghnas."""

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require_test_module
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.fingerprint import file_sha256
from ghnas.export import load
from ghnas.search_spaces import build_search_space
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
sys.path.insert(0, str(REPO / "tools"))
import export_model  # noqa: E402
import train_net  # noqa: E402


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny GHN training and search, once for the module."""
    out = tmp_path_factory.mktemp("run")
    train_net.main(Namespace(config_file=QUICK, resume=False,
                             opts=TINY_OVERRIDES + ["OUTPUT_DIR", str(out)]))  # fmt: skip
    return out


def export(out, *extra, arch=None, rank=1, weights="ghn", overwrite=True):
    arch = arch or str(out / "search" / "results.jsonl")
    args = Namespace(config_file=QUICK, resume=False, arch=arch, rank=rank, weights=weights,
                     overwrite=overwrite,
                     opts=TINY_OVERRIDES + ["OUTPUT_DIR", str(out), *map(str, extra)])  # fmt: skip
    return Path(export_model.main(args))


def best_row(out):
    rows = [
        json.loads(line) for line in (out / "search" / "results.jsonl").read_text().splitlines()
    ]
    return sorted(rows, key=lambda r: (-r["score"], r["hash"]))[0]


def test_bundle_runs_without_ghnas_and_fits_the_budget(searched):
    row = best_row(searched)
    # A budget between the FLOPs at F=3 and F=4: the fitted width must be exactly 3.
    cfg = get_cfg(QUICK)
    cfg.merge_from_list(TINY_OVERRIDES + ["MODEL.INIT_CHANNELS", 3])
    space3 = build_search_space(cfg, build_dataset(cfg).meta)
    at3 = space3.analytic_flops(space3.architecture_from_dict(row["arch"]))
    bundle = export(searched, "EXPORT.FLOP_BUDGET", float(at3 + 1), "EXPORT.MIN_CHANNELS", 1)
    assert bundle.name == row["hash"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["weights"] == "ghn" and manifest["flops"] == at3
    for name, digest in manifest["files"].items():
        assert file_sha256(str(bundle / name)) == digest, name
    assert {"arch.json", "config.yaml", "weights.pth", "model.pt2", "flops.md", "block.png"} <= set(
        manifest["files"]
    )
    network = load(str(bundle))
    assert json.loads((bundle / "arch.json").read_text())["channels"] == 3
    shape = json.loads((bundle / "arch.json").read_text())["input_shape"]
    assert count_flops(network, tuple(shape)) <= at3 + 1
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    expected = network(x).detach().numpy()
    np.save(bundle.parent / "x.npy", x.numpy())
    script = (
        "import sys; sys.modules['ghnas'] = None\n"  # importing ghnas now fails
        "import numpy as np, torch\n"
        f"m = torch.export.load({str(bundle / 'model.pt2')!r}).module()\n"
        f"x = torch.from_numpy(np.load({str(bundle.parent / 'x.npy')!r}))\n"
        f"np.save({str(bundle.parent / 'y.npy')!r}, m(x).detach().numpy())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=str(bundle.parent))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(bundle.parent / "y.npy"), expected, rtol=1e-4, atol=1e-5)
    # BN statistics were recalibrated: the running means moved off their initial zeros.
    assert any(float(b.abs().sum()) > 0 for n, b in network.state_dict().items()
               if n.endswith("running_mean"))  # fmt: skip


def test_random_weights_and_a_damaged_bundle(searched):
    bundle = export(searched, weights="random", rank=2)
    assert json.loads((bundle / "manifest.json").read_text())["weights"] == "random"
    weights = bundle / "weights.pth"
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(GhnasError, match="does not match its manifest"):
        load(str(bundle))


def test_final_weights_are_the_default_and_an_over_budget_export_is_refused(searched):
    row = best_row(searched)
    with pytest.raises(GhnasError, match="choose --weights ghn or --weights random"):
        export(searched, weights=None)
    bundle = export(searched, weights="random")  # a network to stand in for final training
    state = torch.load(bundle / "weights.pth")
    final = searched / "final"
    final.mkdir(exist_ok=True)
    torch.save({"model": state, "hash": row["hash"], "channels": 4}, final / "model_final.pth")
    assert (
        json.loads((export(searched, weights=None) / "manifest.json").read_text())["weights"]
        == "final"
    )
    with pytest.raises(
        GhnasError, match=r"export refused: .* needs .*M FLOPs, over EXPORT.FLOP_BUDGET"
    ):
        export(searched, "EXPORT.FLOP_BUDGET", 1000.0, weights="final")


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"rank": 99}, r"--rank 99: .* ranks 12 architectures"),
        ({"arch": "/no/such.json"}, "not found"),
    ],
)
def test_bad_selection_is_one_line(searched, kwargs, expected):
    with pytest.raises(GhnasError, match=expected):
        export(searched, **kwargs)


def test_a_second_export_of_one_hash_is_refused_and_keeps_the_bundle(searched):
    bundle = export(searched, weights="random", rank=3)
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    with pytest.raises(GhnasError, match="already holds a bundle .* --overwrite"):
        export(searched, weights="ghn", rank=3, overwrite=False)
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert not (bundle.parent / f"{bundle.name}.partial").exists()


def test_onnx_model_runs_in_onnxruntime_as_the_torch_export_program(searched):
    """The [onnx] extra: model.onnx is in the manifest, self-contained, takes any batch size
    and gives model.pt2's logits in onnxruntime."""
    onnxruntime = require_test_module("onnxruntime", 'pip install -e ".[onnx]"')
    require_test_module("onnxscript", 'pip install -e ".[onnx]"')
    bundle = export(searched, "EXPORT.ONNX", True, weights="random", rank=3)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert "model.onnx" in manifest["files"]
    assert not list(bundle.glob("*.data"))  # weights inside model.onnx, nothing beside it
    shape = json.loads((bundle / "arch.json").read_text())["input_shape"]
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1))
    expected = torch.export.load(str(bundle / "model.pt2")).module()(x).detach().numpy()
    session = onnxruntime.InferenceSession(str(bundle / "model.onnx"))
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
