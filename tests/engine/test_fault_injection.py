"""SIGKILL inside the writes of the long phases, then --resume: the uninterrupted result, exactly.

A few cases of ``benchmarks/fault_injection.py`` (which kills each phase 20 times, at random
moments and inside writes): the run SIGKILLs itself halfway through one of its own writes,
including the write of ``ghn/model_final.pth`` that once left a run unable to finish. The
ground truth's kill inside a checkpoint write is in ``tests/evaluation/test_ground_truth.py``.
Also: two writers on one folder.
"""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import fault_injection  # noqa: E402
from fault_injection import PHASES, compare, run, timed_run  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run of GHN training, search and final training."""
    out = tmp_path_factory.mktemp("reference")
    timed_run(PHASES["final"], out)
    return out


@pytest.mark.parametrize(
    "kill",
    [
        "checkpoint:3:ghn/",  # the GHN's third save: model_final.pth, after model_0000019.pth
        "line:5:search/results.jsonl",  # a results line torn in half
    ],
    # A torn final-training checkpoint goes through the same atomic checkpointer as the GHN's;
    # benchmarks/fault_injection.py kills the final phase too (and every phase, many times).
    ids=["ghn-final-save", "search-line"],
)
def test_a_kill_inside_a_write_resumes_to_the_uninterrupted_result(tmp_path, reference, kill):
    phase = PHASES["final"]  # trains the GHN, searches and trains the best block
    killed = run(phase.command(tmp_path), kill_write=kill)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL, inside the write
    assert run(phase.command(tmp_path, resume=True)).returncode == 0
    assert compare(phase, tmp_path, reference) == {
        "equal": True, "lost": 0, "duplicated": 0, "changed": 0
    }  # fmt: skip
    # metrics.jsonl holds each logged iteration once, as the uninterrupted run's does.
    assert logged_steps(tmp_path) == logged_steps(reference)
    # The search's wall time in top.md is the sum over invocations (search/seconds.json).
    seconds = json.loads((tmp_path / "search" / "seconds.json").read_text())["search_seconds"]
    assert f"- search wall time: {seconds:.1f} s" in (tmp_path / "search" / "top.md").read_text()


def logged_steps(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["phase"], r["iteration"]) for r in records]


def test_the_comparison_sees_a_lost_row(tmp_path, reference):
    """The check the trials rely on can fail: a results file missing a row is not equal."""
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    path = copy / "search" / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    assert compare(PHASES["final"], copy, reference) == {
        "equal": False, "lost": 1, "duplicated": 0, "changed": 0
    }  # fmt: skip


def test_the_comparison_sees_another_header_or_table(tmp_path, reference):
    """The search's header and table beside its rows must come out the same too."""
    for name in ("results_meta.json", "results.csv"):
        copy = tmp_path / name
        shutil.copytree(reference, copy)
        path = copy / "search" / name
        path.write_text(path.read_text() + "\n")
        assert not compare(PHASES["final"], copy, reference)["equal"], name


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_lock(tmp_path):
    phase = PHASES["ghn"]
    long_run = phase.command(tmp_path, False, "SOLVER.MAX_ITER", "1000000")
    first = subprocess.Popen(
        [sys.executable, *long_run], env=fault_injection.environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (tmp_path / "ghn" / "model_0000009.pth").exists():  # it holds the folder
            assert first.poll() is None and time.time() < deadline, "the first run never started"
            time.sleep(0.02)
        second = run(phase.command(tmp_path, True, "SOLVER.MAX_ITER", "1000000"))
        assert first.poll() is None, "the first run ended before the second one was refused"
        assert second.returncode == 2, second.stderr
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("ghnas: error: OUTPUT_DIR") and "in use by another run" in last
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The OS released the dead run's lock: resuming it (to a short end) takes the folder.
    third = run(phase.command(tmp_path, True, "SOLVER.MAX_ITER", "20"))
    assert third.returncode == 0, third.stderr[-2000:]
    assert (tmp_path / "ghn" / "model_final.pth").exists()
