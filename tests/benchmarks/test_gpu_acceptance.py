"""benchmarks/gpu_acceptance.py: a ``--tiny`` run on the CPU end to end (every row, finite
positive figures, the JSON file), and a missing input as one line."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_acceptance.py"
sys.path.insert(0, str(REPO / "tests"))
from conftest import require_shared_file  # noqa: E402

# The NAS-Bench-201 rows need the plug-in: skipped (failed in CI) where it is not installed.
pytestmark = pytest.mark.usefixtures("nasbench201_plugin")

# Every row of the table, and those measured against a baseline (with a ratio).
ROWS = {"nb201_scoring", "nb201_vs_plain_fp32", "nb201_vs_plain_low", "paper_scoring",
        "ghn_training_amp", "anytime_training"}  # fmt: skip
WITH_BASELINE = ROWS - {"nb201_scoring", "anytime_training"}
WITH_TARGET = {"nb201_scoring", "nb201_vs_plain_low", "paper_scoring"}


def run(*args: str) -> subprocess.CompletedProcess:
    """The script in its own process on one thread, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def positive(value) -> bool:
    """A finite float above zero."""
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_tiny_run_prints_every_row_and_writes_the_json(tmp_path):
    data = require_shared_file("cifar10/cifar10-1k.npz")
    table = require_shared_file("nasbench201/nasbench201.csv")
    out = tmp_path / "acceptance.json"
    done = run("--tiny", "--device", "cpu", "--data", str(data), "--table", str(table),
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {r["id"]: r for r in report["rows"]}
    assert set(rows) == ROWS and len(report["rows"]) == len(ROWS)
    for key, r in rows.items():
        assert positive(r["ours"]), r
        if key in WITH_BASELINE:
            assert positive(r["baseline"]) and positive(r["ratio"]), r
        assert (key in WITH_TARGET) == ("target" in r)
        assert r.get("met") is None  # --tiny: the targets are for the full sizes
        assert r["what"] in done.stdout  # the printed table holds the same rows
    assert report["tiny"] and "untrained" in done.stdout
    # bf16 autocast ran on the CPU where torch has it (it does in every supported release).
    assert rows["ghn_training_amp"]["what"].count("AMP bfloat16") == 1
    assert report["sections"]["nasbench201"]["plain_dtype"] == "bfloat16"
    assert report["knobs"]["amp_dtype"] == "bfloat16"  # the scoring ran under it too


def test_a_missing_input_is_one_line(tmp_path, capsys):
    """In-process through run_cli, as the script's __main__ runs it (no second interpreter)."""
    table = require_shared_file("nasbench201/nasbench201.csv")
    missing = tmp_path / "absent.npz"
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_acceptance

    from ghnas.engine import run_cli

    out = str(tmp_path / "o.json")
    args = gpu_acceptance.parse_args(["--tiny", "--device", "cpu", "--data", str(missing),
                                      "--table", str(table), "--out", out])  # fmt: skip
    assert run_cli(gpu_acceptance.main, args) == 2
    assert capsys.readouterr().err.strip() == f"ghnas: error: --data: {missing} not found"
    assert not (tmp_path / "o.json").exists()


def test_targets_are_judged_at_full_size_only():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_acceptance

    fast = gpu_acceptance.row("nb201_vs_plain_low", "x", 400.0, 100.0)  # ratio 4 >= 3.7
    slow = gpu_acceptance.row("paper_scoring", "x", 0.1, 0.08, seconds=True)  # 0.1 s > 0.05 s
    assert fast["ratio"] == 4.0 and slow["ratio"] == pytest.approx(0.8)
    assert slow["target"] == "<= 0.05 s"
    assert gpu_acceptance.judged(fast, True)["met"] and not gpu_acceptance.judged(slow, True)["met"]
    assert gpu_acceptance.judged(fast, False)["met"] is None
    untargeted = gpu_acceptance.row("anytime_training", "x", 3.0)
    assert gpu_acceptance.judged(untargeted, True) == untargeted and untargeted["ratio"] is None
