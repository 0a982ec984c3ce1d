"""Kill a run (SIGKILL) during GHN training and during search; --resume must lose nothing.

The resumed run's final GHN must equal the uninterrupted run's bit for bit, and its
results.jsonl must hold exactly the same rows (none lost, none scored twice).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_config import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
# Long enough that the kill lands while the phase is still running.
OVERRIDES = TINY_OVERRIDES + ["SOLVER.MAX_ITER", "120", "SEARCH.NUM_ARCHS", "40"]


def command(out_dir: Path, *extra: str):
    return [
        sys.executable, str(REPO / "tools" / "train_net.py"), "--config-file", QUICK,
        *extra, "OUTPUT_DIR", str(out_dir), *OVERRIDES,
    ]  # fmt: skip


def environment():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_to_end(out_dir: Path, *extra: str) -> None:
    result = subprocess.run(
        command(out_dir, *extra), env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]


def kill_when(out_dir: Path, ready, timeout: float = 240) -> None:
    """Start a run and SIGKILL it as soon as ``ready(out_dir)`` holds."""
    process = subprocess.Popen(
        command(out_dir), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + timeout
    try:
        while not ready(out_dir):
            if process.poll() is not None:
                pytest.fail(f"run ended before it could be killed: {process.stderr.read()[-2000:]}")
            if time.time() > deadline:
                pytest.fail("run never reached the kill point")
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()


def result_rows(out_dir: Path):
    lines = (out_dir / "search" / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def ghn_state(out_dir: Path):
    return torch.load(out_dir / "ghn" / "model_final.pth")["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_to_end(out)
    return out


def assert_same_run(out: Path, reference: Path) -> None:
    mine, theirs = ghn_state(out), ghn_state(reference)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert torch.equal(mine[name], theirs[name]), name
    rows = result_rows(out)
    assert rows == result_rows(reference)
    assert len({r["hash"] for r in rows[1:]}) == len(rows) - 1 == 40


def test_resume_after_kill_during_ghn_training(tmp_path, uninterrupted):
    def first_checkpoint_written(out):
        return (out / "ghn" / "model_0000009.pth").exists()

    kill_when(tmp_path, first_checkpoint_written)
    assert not (tmp_path / "ghn" / "model_final.pth").exists(), "killed too late"
    run_to_end(tmp_path, "--resume")
    assert_same_run(tmp_path, uninterrupted)


def test_resume_after_kill_during_search(tmp_path, uninterrupted):
    def some_rows_written(out):
        path = out / "search" / "results.jsonl"
        return path.exists() and path.read_text().count("\n") >= 6

    kill_when(tmp_path, some_rows_written)
    assert len(result_rows(tmp_path)) < 41, "killed too late"
    run_to_end(tmp_path, "--resume")
    assert_same_run(tmp_path, uninterrupted)
    log = (tmp_path / "log.txt").read_text()
    assert "ghn: already trained" in log and "search: resuming with" in log
