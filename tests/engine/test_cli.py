"""tools/train_net.py as a user meets it: --help, --phases and --eval-only anywhere on the line,
a start banner per phase, and the headline config's errors saying the way out."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_config import TINY_OVERRIDES

from ghnas.engine import run_cli
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
sys.path.insert(0, str(REPO / "tools"))
import train_net  # noqa: E402


def parse(*argv):
    return train_net.argument_parser().parse_args(list(argv))


def test_help_lists_the_phases_and_examples():
    done = subprocess.run([sys.executable, str(REPO / "tools" / "train_net.py"), "--help"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0
    for phase in train_net.PHASES:
        assert f"\n  {phase} " in done.stdout
    assert "--eval-only" in done.stdout and "examples:" in done.stdout


def test_flags_after_the_overrides_are_flags():
    args = parse("--config-file", QUICK, "SEED", "3", "--phases", "ghn", "--eval-only")
    train_net.trailing_flags(args)
    assert (args.opts, args.phases, args.eval_only) == (["SEED", "3"], "ghn", True)
    with pytest.raises(GhnasError, match="--eval-only runs the search phase alone"):
        train_net.load_config(parse("--config-file", QUICK, "--eval-only", "--phases", "ghn"))
    with pytest.raises(GhnasError, match="--phases needs a value"):
        train_net.load_config(parse("--config-file", QUICK, "SEED", "3", "--phases"))


def test_eval_only_scores_with_the_runs_ghn_and_banners_say_what_runs(tmp_path, capsys):
    """A GHN phase, then --eval-only: the search alone, with that GHN, which stays as it was.
    Each phase starts with one line: iterations, GHN size, split sizes, device."""
    out = ["OUTPUT_DIR", str(tmp_path)]
    train_net.main(parse("--config-file", QUICK, *TINY_OVERRIDES, *out, "--phases", "ghn"))
    ghn = (tmp_path / "ghn" / "model_final.pth").read_bytes()
    first = (tmp_path / "log.txt").read_text()
    banner = next(line for line in first.splitlines() if "phase ghn:" in line)
    assert "20 iterations of 1 architecture(s)" in banner and "M parameters" in banner
    assert "; train " in banner and " / val 200" in banner and banner.endswith("device cpu")
    assert not (tmp_path / "search").exists()
    capsys.readouterr()
    status = run_cli(train_net.main, parse("--config-file", QUICK, *TINY_OVERRIDES, *out,
                                           "--eval-only"))  # fmt: skip
    assert status == 0
    log = (tmp_path / "log.txt").read_text()[len(first) :]  # what the --eval-only run logged
    assert "phase search: 12 architectures of classification by accuracy" in log
    assert "phase ghn:" not in log
    assert (tmp_path / "ghn" / "model_final.pth").read_bytes() == ghn
    assert (tmp_path / "search" / "results.jsonl").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_headline_config_without_cuda_points_to_the_cpu_configs():
    with pytest.raises(GhnasError, match="configs/quick/anytime.yaml"):
        train_net.load_config(parse("--config-file", str(REPO / "configs" / "anytime.yaml")))


def test_missing_cifar10_names_the_offline_ways(tmp_path):
    args = parse("--config-file", str(REPO / "configs" / "anytime.yaml"), "MODEL.DEVICE", "cpu",
                 "DATASETS.ROOT", str(tmp_path), "OUTPUT_DIR", str(tmp_path / "out"))  # fmt: skip
    with pytest.raises(GhnasError, match="cifar-10-python.tar.gz in .* DATASETS.NAME npz"):
        train_net.main(args)
    assert not (tmp_path / "out").exists()
