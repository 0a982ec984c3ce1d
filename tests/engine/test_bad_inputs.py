"""Every bad input: exit status 2, one line on stderr, and no file of the run folder changed.

Each case runs a tool in-process against a copy of one finished tiny run (GHN and search), and
compares a snapshot of that folder (every file's bytes, every folder) before and after.
"""

import hashlib
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_config import TINY_OVERRIDES

from ghnas.engine import default_argument_parser, run_cli

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
sys.path.insert(0, str(REPO / "tools"))
import eval_correlation  # noqa: E402
import export_model  # noqa: E402
import train_net  # noqa: E402

RESULTS = "search/results.jsonl"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run (GHN training and a search of 12) to copy into every case."""
    out = tmp_path_factory.mktemp("finished") / "run"
    args = default_argument_parser().parse_args(
        ["--config-file", QUICK, *TINY_OVERRIDES, "OUTPUT_DIR", str(out)]
    )
    assert run_cli(train_net.main, args) == 0
    return out


@pytest.fixture
def run_dir(finished_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def snapshot(folder: Path):
    """Every path under ``folder`` with its file's sha256 (None for a folder)."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
        else None
        for p in sorted(folder.rglob("*"))
    }  # fmt: skip


def refused(capsys, tool, argv, watched: Path) -> str:
    """Run ``tool`` with ``argv``; assert exit 2, one error line and ``watched`` unchanged."""
    before = snapshot(watched)
    parser = export_model.argument_parser() if tool is export_model else default_argument_parser()
    status = run_cli(tool.main, parser.parse_args([str(a) for a in argv]))
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line]
    assert status == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in lines if line.startswith("ghnas: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert snapshot(watched) == before, "a refused run changed files"
    return errors[0]


def train(run_dir, *extra, resume=True):
    flags = ["--resume"] if resume else []
    return ["--config-file", QUICK, *flags, *TINY_OVERRIDES, "OUTPUT_DIR", run_dir, *extra]


# -- config files --------------------------------------------------------------------------------


def yaml_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"a.yaml": "_BASE_: missing.yaml\n"}, "config file not found: .*missing.yaml .*_BASE_"),
        ({"a.yaml": "_BASE_: b.yaml\n", "b.yaml": "_BASE_: a.yaml\n"}, "loops back"),
        ({"a.yaml": "- 1\n- 2\n"}, "holds a list; it must map keys"),
        ({"a.yaml": ""}, "holds nothing; it must map keys"),
        ({"a.yaml": "42\n"}, "holds a int; it must map keys"),
    ],
    ids=["base-missing", "base-cycle", "list", "empty", "scalar"],
)
@pytest.mark.parametrize("tool", [train_net, eval_correlation], ids=["train_net", "correlation"])
def test_bad_config_file(capsys, tmp_path, files, expected, tool):
    for name, text in files.items():
        yaml_file(tmp_path, name, text)
    out = tmp_path / "out"
    line = refused(capsys, tool, ["--config-file", tmp_path / "a.yaml", "OUTPUT_DIR", out], out)
    assert re.search(expected, line), line
    assert not out.exists()


# -- the output folder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output_dir, expected",
    [
        ("", "OUTPUT_DIR is empty"),
        ("FILE", "is a file, not a folder"),
        ("/sys/ghnas-test/out", "cannot write in /sys"),  # read-only even for root
    ],
    ids=["empty", "file", "read-only"],
)
def test_bad_output_dir(capsys, tmp_path, output_dir, expected):
    if output_dir == "FILE":
        output_dir = yaml_file(tmp_path, "taken", "not a folder")
    argv = ["--config-file", QUICK, *TINY_OVERRIDES, "OUTPUT_DIR", output_dir]
    assert expected in refused(capsys, train_net, argv, tmp_path)


def test_a_fresh_run_into_a_used_folder_is_refused(capsys, run_dir):
    line = refused(capsys, train_net, train(run_dir, resume=False), run_dir)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line


def test_resume_and_overwrite_together(capsys, run_dir):
    line = refused(capsys, train_net, train(run_dir, "--overwrite"), run_dir)
    assert "give one of them" in line


# -- a resumed run that is not the same run ------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["SEARCH.NUM_ARCHS", 8], "SEARCH.NUM_ARCHS was 12 there, 8 now"),
        (["PHASES", "['search']", "SEED", 1], "split"),  # the search loads the GHN of seed 0
        (["SEED", 1], "SEED: 0 in the checkpoint, 1 here"),
        (["SEARCH.CONSTRAINTS.FLOPS", "[1, 2]"], "SEARCH.CONSTRAINTS.FLOPS was None there"),
        (["SEARCH.EVAL_IMAGES", 32], "SEARCH.EVAL_IMAGES was 64 there, 32 now"),
        (["SEARCH.CRITERION", "expected_accuracy"], "SEARCH.CRITERION"),
    ],
    ids=["num-archs", "search-seed", "ghn-seed", "constraint", "eval-images", "criterion"],
)
def test_resume_refuses_another_search(capsys, run_dir, overrides, expected):
    assert expected in refused(capsys, train_net, train(run_dir, *overrides), run_dir)


def test_a_results_row_without_a_score(capsys, run_dir):
    path = run_dir / RESULTS
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"score"', '"scor"')
    path.write_text("\n".join(lines) + "\n")
    line = refused(capsys, train_net, train(run_dir), run_dir)
    assert "line 4" in line and "'score'" in line


# -- values that would make a run meaningless ----------------------------------------------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["SEARCH.GHN_CHECKPOINT", "GHN_DIR"], "SEARCH.GHN_CHECKPOINT: .* is a folder"),
        (["SEARCH.EVAL_IMAGES", 500], "SEARCH.EVAL_IMAGES=500 exceeds the 200 images"),
        (["SEARCH.NUM_ARCHS", 100000000], "SEARCH.NUM_ARCHS=100000000: at most 1,000,000"),
        (["PHASES", "['export']", "EXPORT.BN_IMAGES", 0], "EXPORT.BN_IMAGES must be >= 1"),
        (["PHASES", "['export']", "EXPORT.FLOP_BUDGET", -1.0], "EXPORT.FLOP_BUDGET must be >= 0"),
        (["PHASES", "['export']", "EXPORT.MIN_CHANNELS", 0], "EXPORT.MIN_CHANNELS must be >= 1"),
        (["GHN.TRAIN_NUM_NODES", 0], "GHN.TRAIN_NUM_NODES must be > 0"),
        (["INPUT.SIZE", 2], "INPUT.SIZE=2 must be at least"),
    ],
    ids=[
        "ghn-dir",
        "eval-images",
        "num-archs",
        "bn-images",
        "budget",
        "min-channels",
        "train-nodes",
        "input-size",
    ],  # fmt: skip
)
def test_meaningless_value(capsys, run_dir, overrides, expected):
    overrides = [str(run_dir / "ghn") if o == "GHN_DIR" else o for o in overrides]
    line = refused(capsys, train_net, train(run_dir, *overrides, resume=False), run_dir)
    assert re.search(expected, line), line


def test_a_dataset_of_one_class(capsys, run_dir, tmp_path):
    one_class = tmp_path / "one.npz"
    images, labels = np.zeros((300, 8, 8, 3), np.uint8), np.zeros(300, np.uint8)
    np.savez(one_class, x_train=images, y_train=labels, x_test=images[:50], y_test=labels[:50])
    overrides = ["DATASETS.NAME", "npz", "DATASETS.PATH", one_class, "INPUT.SIZE", 8]
    line = refused(capsys, train_net, train(tmp_path / "new", *overrides, resume=False), tmp_path)
    assert "1 class" in line and "at least 2" in line


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["CORRELATION.CACHE_DIR", "/sys/ghnas-cache"],
            "CORRELATION.CACHE_DIR: cannot write in /sys",
        ),
        (["CORRELATION.GHN_CHECKPOINT", "GHN_DIR"], "CORRELATION.GHN_CHECKPOINT: .* is a folder"),
        (["ZERO_COST.ESTIMATORS", "['nasbot']"], "unknown zero-cost estimator 'nasbot'"),
        (["ZERO_COST.BATCH_SIZE", 1], "ZERO_COST.BATCH_SIZE=1 must be between 2 and"),
    ],
    ids=["unwritable-cache", "ghn-dir", "unknown-zero-cost", "zero-cost-batch"],
)
def test_bad_correlation_input(capsys, run_dir, tmp_path, overrides, expected):
    overrides = [str(run_dir / "ghn") if o == "GHN_DIR" else o for o in overrides]
    argv = [
        "--config-file", REPO / "configs" / "quick" / "correlation.yaml", *TINY_OVERRIDES,
        "DATASETS.TEST_SIZE", 100, "OUTPUT_DIR", tmp_path / "corr", *overrides,
    ]  # fmt: skip
    line = refused(capsys, eval_correlation, argv, tmp_path)
    assert re.search(expected, line), line


# -- export --------------------------------------------------------------------------------------


def export(run_dir, arch, *extra):
    return ["--config-file", QUICK, "--arch", arch, "--weights", "ghn", *TINY_OVERRIDES,
            "OUTPUT_DIR", run_dir, *extra]  # fmt: skip


def test_export_of_a_folder(capsys, run_dir):
    line = refused(capsys, export_model, export(run_dir, run_dir / "search"), run_dir)
    assert "--arch" in line and "is a folder" in line


def test_export_from_a_row_without_a_score(capsys, run_dir):
    path = run_dir / RESULTS
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"score"', '"scor"')
    path.write_text("\n".join(lines) + "\n")
    line = refused(capsys, export_model, export(run_dir, path), run_dir)
    assert "line 3" in line and "numeric 'score'" in line


def test_export_with_no_bn_images(capsys, run_dir):
    line = refused(capsys, export_model, export(run_dir, run_dir / RESULTS, "EXPORT.BN_IMAGES", 0),
                   run_dir)  # fmt: skip
    assert "EXPORT.BN_IMAGES must be >= 1" in line


def test_another_seed_over_the_same_split_may_score_with_the_ghn(capsys, run_dir, tmp_path):
    """DATASETS.SPLIT_SEED fixes the split: a search with SEED 1 may use the GHN of SEED 0
    (without it, the same search is refused above: its split would differ)."""
    ghn = run_dir / "ghn" / "model_final.pth"
    argv = ["--config-file", QUICK, *TINY_OVERRIDES, "PHASES", "['search']", "SEED", "1",
            "DATASETS.SPLIT_SEED", "0", "SEARCH.GHN_CHECKPOINT", ghn,
            "OUTPUT_DIR", tmp_path / "seed1"]  # fmt: skip
    args = default_argument_parser().parse_args([str(a) for a in argv])
    assert run_cli(train_net.main, args) == 0, capsys.readouterr().err
    refusal = refused(capsys, train_net, [*argv[:-1], tmp_path / "seed1b", "DATASETS.SPLIT_SEED",
                                          "-1"], tmp_path / "seed1b")  # fmt: skip
    assert (
        "another dataset split" in refusal and "split_seed: 0 in the checkpoint, 1 here" in refusal
    )


def test_phases_flag_sets_the_phases_and_a_bad_one_is_one_line(capsys, tmp_path):
    args = train_net.argument_parser().parse_args(
        ["--config-file", QUICK, "--phases", "ghn,search", "OUTPUT_DIR", str(tmp_path / "x")]
    )
    assert list(train_net.load_config(args).PHASES) == ["ghn", "search"]
    argv = ["--config-file", QUICK, "--phases", "serch", "OUTPUT_DIR", tmp_path / "new"]
    status = run_cli(train_net.main, train_net.argument_parser().parse_args(map(str, argv)))
    err = capsys.readouterr().err
    assert status == 2 and "PHASES: ['serch'] is not a non-empty list of" in err
    assert not (tmp_path / "new").exists()
