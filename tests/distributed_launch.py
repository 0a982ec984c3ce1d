"""Start a script as torchrun's ranks would be started (gloo on CPU, one thread each).

Each rank gets torchrun's environment variables, so the package's own ``init_from_torchrun_env``
joins them. A hang fails the test after ``timeout`` seconds instead of blocking the suite.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORLD_SIZE = 2
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(command, per_rank, world_size: int = WORLD_SIZE):
    """Start ``command`` as ``world_size`` ranks with torchrun's environment; ``per_rank(rank)``
    gives each rank's extra ``subprocess.Popen`` arguments (where its output goes)."""
    port, processes = str(free_port()), []
    for rank in range(world_size):
        env = {
            **os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port, "WORLD_SIZE": str(world_size), "RANK": str(rank),
            "LOCAL_RANK": str(rank), "PYTHONPATH": str(REPO),
        }  # fmt: skip
        processes.append(subprocess.Popen(command, env=env, **per_rank(rank)))
    return processes


def kill_leftovers(processes) -> None:
    """Kill the ranks still running (after a failure or a hang)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def launch(worker: Path, work: Path, *args: str, timeout: float = TIMEOUT) -> None:
    """Run ``python worker work args...`` as the ranks, to the end, as ``torchrun
    --nproc_per_node 2`` would; each rank's output goes to ``work/rank<r>.log``; fail on an
    error or a hang."""

    def logs(rank):
        log = open(work / f"rank{rank}.log", "w")
        return {"stdout": log, "stderr": log}

    command = [sys.executable, str(worker), str(work), *map(str, args)]
    processes = start_ranks(command, per_rank=logs)
    deadline = time.time() + timeout
    try:
        for rank, process in enumerate(processes):
            returncode = process.wait(timeout=max(1.0, deadline - time.time()))
            log = (work / f"rank{rank}.log").read_text()[-3000:]
            assert returncode == 0, f"rank {rank} failed:\n{log}"
    except subprocess.TimeoutExpired:
        pytest.fail(f"the ranks did not finish within {timeout} s (a hang?)")
    finally:
        kill_leftovers(processes)
