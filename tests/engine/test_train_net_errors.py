"""Bad input gives one line on stderr naming what is wrong, exit status 2, no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_config import TINY_OVERRIDES

from ghnas.engine import default_argument_parser, run_cli
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
sys.path.insert(0, str(REPO / "tools"))
import train_net  # noqa: E402


def run(capsys, *argv):
    """Run train_net's main in-process; return (exit status, stderr)."""
    args = default_argument_parser().parse_args(list(argv))
    status = run_cli(train_net.main, args)
    return status, capsys.readouterr().err


def one_line_error(capsys, *argv) -> str:
    status, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in lines if line.startswith("ghnas: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


@pytest.fixture
def out(tmp_path):
    return ["OUTPUT_DIR", str(tmp_path / "out")]


def test_unknown_key(capsys, out):
    line = one_line_error(capsys, "--config-file", QUICK, *out, "GHN.NUM_PASES", "3")
    assert "GHN.NUM_PASES" in line and "defaults.py" in line


def test_wrong_type(capsys, out):
    line = one_line_error(capsys, "--config-file", QUICK, *out, "SOLVER.MAX_ITER", "many")
    assert "SOLVER.MAX_ITER" in line and "many" in line


@pytest.mark.parametrize(
    "key, accepted",
    [
        ("SEARCH_SPACE.NAME", "classification"),
        ("GHN.NAME", "ghn_shared_branch"),
        ("GHN.PROPAGATION", "forward_backward"),
        ("SEARCH.CRITERION", "accuracy"),
        ("DATASETS.NAME", "digits"),
        ("GHN.TRAINER", "ghn"),
    ],
)
def test_unknown_registry_name(capsys, out, key, accepted):
    line = one_line_error(capsys, "--config-file", QUICK, *out, *TINY_OVERRIDES, key, "nope")
    assert key in line and "'nope'" in line and accepted in line


def test_missing_config_file(capsys, tmp_path):
    line = one_line_error(capsys, "--config-file", str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in line and "not found" in line


def test_unparseable_config_file(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("GHN:\n  NAME: [unclosed\n")
    line = one_line_error(capsys, "--config-file", str(bad))
    assert "bad.yaml" in line and "cannot parse" in line


def test_unknown_key_in_file(capsys, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("SOLVER:\n  MAX_ITERS: 3\n")
    line = one_line_error(capsys, "--config-file", str(bad))
    assert "typo.yaml" in line and "SOLVER.MAX_ITERS" in line


def test_missing_dataset(capsys, out, tmp_path):
    missing = str(tmp_path / "nothing.npz")
    line = one_line_error(
        capsys, "--config-file", QUICK, *out, "DATASETS.NAME", "npz", "DATASETS.PATH", missing
    )
    assert "DATASETS.PATH" in line and "nothing.npz" in line


def test_malformed_dataset(capsys, out, tmp_path):
    import numpy as np

    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((10, 8, 8, 3), np.uint8))
    line = one_line_error(
        capsys, "--config-file", QUICK, *out, "DATASETS.NAME", "npz", "DATASETS.PATH", str(bad)
    )
    assert "y_train" in line


def test_val_size_too_large(capsys, out):
    line = one_line_error(capsys, "--config-file", QUICK, *out, "DATASETS.VAL_SIZE", "5000")
    assert "DATASETS.VAL_SIZE" in line and "1797" in line


def test_unknown_phase(capsys, out):
    line = one_line_error(capsys, "--config-file", QUICK, *out, "PHASES", "['ghn','train']")
    assert "PHASES" in line and "search" in line


def test_malformed_architecture_in_results_file(tmp_path):
    """An architecture read back from a results file is validated (here: a cycle)."""
    from ghnas.search import load_results
    from ghnas.structures.architecture import BlockArchitecture

    path = tmp_path / "results.jsonl"
    row = {
        "arch": {
            "nodes": [{"op": "conv_1x1", "inputs": [0, 3]}, {"op": "identity", "inputs": [1, 2]}]
        },
        "hash": "x",
        "score": 0.5,
    }
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(GhnasError, match="cycle through nodes 2 -> 3 -> 2"):
        BlockArchitecture.from_dict(load_results(str(path))[0]["arch"])


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("SEED", "-1", "SEED must be >= 0"),
        ("GHN.HIDDEN_SIZE", "0", "GHN.HIDDEN_SIZE must be > 0"),
        ("SOLVER.BASE_LR", "-0.1", "SOLVER.BASE_LR must be > 0"),
        (
            "SOLVER.LR_DECAY_POINTS",
            "[0.75, 0.5]",
            "SOLVER.LR_DECAY_POINTS must be increasing fractions",
        ),
        (
            "SOLVER.LR_DECAY_POINTS",
            "[0.5, 1.0]",
            "SOLVER.LR_DECAY_POINTS must be increasing fractions",
        ),
        ("MODEL.AMP_DTYPE", "float16", "loss scaling"),
        ("MODEL.DEVICE", "tpu", "MODEL.DEVICE"),
    ],
)
def test_bad_values(capsys, out, key, value, message):
    line = one_line_error(capsys, "--config-file", QUICK, *out, key, value)
    assert message in line


def _train_tiny(capsys, out_dir, *extra):
    status, err = run(
        capsys,
        "--config-file",
        QUICK,
        "OUTPUT_DIR",
        str(out_dir),
        *TINY_OVERRIDES,
        "SOLVER.MAX_ITER",
        "2",
        "PHASES",
        "['ghn']",
        *extra,
    )
    assert status == 0, err
    return out_dir / "ghn" / "model_final.pth"


def search_error(capsys, out_dir, checkpoint, *extra) -> str:
    """The one-line error of a search-only run with the GHN at ``checkpoint``."""
    return one_line_error(
        capsys, "--config-file", QUICK, "OUTPUT_DIR", str(out_dir), *TINY_OVERRIDES,
        "PHASES", "['search']", "SEARCH.GHN_CHECKPOINT", str(checkpoint), *extra
    )  # fmt: skip


def test_ghn_checkpoint_from_another_space(capsys, tmp_path):
    ckpt = _train_tiny(capsys, tmp_path / "a")
    data = torch.load(ckpt)
    data["space"] = "nasbench201"
    foreign = tmp_path / "foreign.pth"
    torch.save(data, foreign)
    line = search_error(capsys, tmp_path / "b", foreign)
    assert "'nasbench201'" in line and "'classification'" in line


def test_ghn_checkpoint_for_another_width(capsys, tmp_path):
    ckpt = _train_tiny(capsys, tmp_path / "a")
    line = search_error(capsys, tmp_path / "b", ckpt, "MODEL.INIT_CHANNELS", "8")
    assert "weight_families" in line


def test_ghn_checkpoint_trained_with_other_ghn_settings(capsys, tmp_path):
    ckpt = _train_tiny(capsys, tmp_path / "a")
    line = search_error(capsys, tmp_path / "b", ckpt, "GHN.NUM_PASSES", "3")
    assert "GHN.NUM_PASSES: 1 in the checkpoint, 3 in the config" in line


def test_resume_with_changed_ghn_settings(capsys, tmp_path):
    _train_tiny(capsys, tmp_path / "a", "SOLVER.MAX_ITER", "10")
    line = one_line_error(
        capsys, "--config-file", QUICK, "OUTPUT_DIR", str(tmp_path / "a"), *TINY_OVERRIDES,
        "PHASES", "['ghn']", "GHN.HIDDEN_SIZE", "16", "--resume"
    )  # fmt: skip
    assert "GHN.HIDDEN_SIZE: 32 in the checkpoint, 16 in the config" in line


def test_resume_with_a_damaged_results_file(capsys, tmp_path):
    status, err = run(
        capsys, "--config-file", QUICK, "OUTPUT_DIR", str(tmp_path), *TINY_OVERRIDES,
        "SOLVER.MAX_ITER", "2"
    )  # fmt: skip
    assert status == 0, err
    results = tmp_path / "search" / "results.jsonl"
    lines = results.read_text().splitlines()
    row = json.loads(lines[2])
    del row["hash"]
    lines[2] = json.dumps(row)
    results.write_text("\n".join(lines) + "\n")
    line = one_line_error(
        capsys, "--config-file", QUICK, "OUTPUT_DIR", str(tmp_path), *TINY_OVERRIDES,
        "SOLVER.MAX_ITER", "2", "--resume"
    )  # fmt: skip
    assert "results.jsonl, line 3" in line


def test_missing_ghn_checkpoint(capsys, tmp_path):
    line = one_line_error(
        capsys,
        "--config-file",
        QUICK,
        "OUTPUT_DIR",
        str(tmp_path / "b"),
        *TINY_OVERRIDES,
        "PHASES",
        "['search']",
    )
    assert "model_final.pth" in line and "not found" in line


def test_real_command_line_prints_no_traceback(tmp_path):
    """The actual process: exit status 2 and a single stderr line."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "train_net.py"),
            "--config-file",
            QUICK,
            "OUTPUT_DIR",
            str(tmp_path),
            "MODEL.BOGUS",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ghnas: error: command-line override: Non-existent key: MODEL.BOGUS "
        "(see ghnas/config/defaults.py for every accepted key)"
    ]


def test_quick_command_runs_on_real_cifar10_images(capsys, tmp_path, cifar10_1k):
    """The quick command with the npz overrides of the README runs on real CIFAR-10 images."""
    status, err = run(
        capsys, "--config-file", QUICK, "OUTPUT_DIR", str(tmp_path), *TINY_OVERRIDES,
        "DATASETS.NAME", "npz", "DATASETS.PATH", str(cifar10_1k), "DATASETS.VAL_SIZE", "200",
        "INPUT.HORIZONTAL_FLIP", "True", "SOLVER.MAX_ITER", "4",
    )  # fmt: skip
    assert status == 0, err
    lines = (tmp_path / "search" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 12
    assert all(0 <= json.loads(line)["score"] <= 1 for line in lines)


ANYTIME = str(REPO / "configs" / "quick" / "anytime.yaml")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("ANYTIME.NUM_EXITS", "0", "zero exits"),
        ("ANYTIME.FLOP_BUDGET", "1000.0", "ANYTIME.FLOP_BUDGET"),
    ],
)
def test_bad_anytime_settings(capsys, out, key, value, message):
    line = one_line_error(
        capsys, "--config-file", ANYTIME, *out, "SOLVER.MAX_ITER", "2", key, value
    )
    assert message in line


def test_anytime_architecture_with_a_scale_its_block_does_not_allow():
    from ghnas.structures.anytime_architecture import AnytimeArchitecture

    node = {"op": "conv_3x3", "inputs": [0], "scale": 0, "exit": True, "block": 2}
    with pytest.raises(GhnasError, match="block 2 allows scales"):
        AnytimeArchitecture.from_dict({"nodes": [node]})


@pytest.mark.parametrize(
    "config, key, value, message",
    [
        (ANYTIME, "SEARCH.CRITERION", "accuracy", "does not fit search space 'anytime'"),
        (QUICK, "SEARCH.CRITERION", "anytime_auc", "does not fit search space 'classification'"),
        (QUICK, "PHASES", "['ghn', 'search', 'final']", "FINAL.TRAINER is empty"),
        (ANYTIME, "ANYTIME.FLOP_BUDGET", "0.0", "ANYTIME.FLOP_BUDGET must be a finite number"),
    ],
)
def test_parts_that_do_not_fit_together(capsys, out, config, key, value, message):
    line = one_line_error(capsys, "--config-file", config, *out, key, value)
    assert message in line


def test_final_resume_with_another_best_architecture_or_width(capsys, tmp_path):
    tiny = ["OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "2", "SEARCH.NUM_ARCHS", "4",
            "SEARCH.EVAL_IMAGES", "32", "FINAL.EPOCHS", "1"]  # fmt: skip
    status, err = run(capsys, "--config-file", ANYTIME, *tiny)
    assert status == 0, err
    line = one_line_error(
        capsys, "--config-file", ANYTIME, *tiny, "PHASES", "['final']", "FINAL.MIN_CHANNELS", "1",
        "ANYTIME.FLOP_BUDGET", "1500000.0", "--resume",
    )  # fmt: skip
    assert "use another OUTPUT_DIR or --overwrite" in line
