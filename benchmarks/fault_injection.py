"""SIGKILL every long phase at random points, resume, and compare with an uninterrupted run.

    python benchmarks/fault_injection.py --kills 20            # every phase, ~1 h on 2 cores
    python benchmarks/fault_injection.py --phases ghn --kills 3

For each phase (GHN training, search, final training, correlation ground truth) one tiny run
goes uninterrupted; then ``--kills`` runs are each killed once and resumed to the end. Every
fourth kill lands inside a write (a checkpoint save or a results line, half written: see
``kill_in_write.py``); the others at a uniformly random moment of the phase's time window in
the uninterrupted run. A resumed run must equal the uninterrupted one: the same GHN (bit for
bit), the same result rows (none lost, duplicated or changed) with the same header and table
beside them, the same final weights and ground truth. The table counts the runs that did and
the rows they lost, duplicated or changed.
The phases and their comparisons are also used by ``tests/engine/test_fault_injection.py``.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import torch
from tabulate import tabulate

REPO = Path(__file__).resolve().parents[1]
TINY = ["DATASETS.NAME", "digits", "DATASETS.VAL_SIZE", "200", "INPUT.SIZE", "8",
        "INPUT.CROP_PADDING", "1", "INPUT.HORIZONTAL_FLIP", "False", "MODEL.INIT_CHANNELS", "4",
        "SEARCH_SPACE.NUM_BLOCKS", "3", "SEARCH_SPACE.NUM_NODES", "5", "GHN.TRAIN_NUM_NODES", "3",
        "GHN.NUM_PASSES", "1", "SOLVER.IMS_PER_BATCH", "16", "SOLVER.CHECKPOINT_PERIOD", "10",
        "SOLVER.LOG_PERIOD", "10", "SEARCH.TOP_K", "3", "SEARCH.EVAL_IMAGES", "64",
        "SEARCH.EVAL_BATCH_SIZE", "32", "SEARCH.ARCH_BATCH", "4"]  # fmt: skip
CLASSIFICATION = str(REPO / "configs" / "quick" / "classification.yaml")
FINAL = [
    "DATASETS.TEST_SIZE",
    "100",
    "FINAL.TRAINER",
    "classification",
    "FINAL.EPOCHS",
    "4",
    "FINAL.IMS_PER_BATCH",
    "64",
    "FINAL.INIT_CHANNELS",
    "4",
    "FINAL.PRECISE_BN_BATCHES",
    "2",
]
CORRELATION = ["DATASETS.TEST_SIZE", "100", "CORRELATION.NUM_ARCHS", "4", "CORRELATION.EPOCHS",
               "2", "CORRELATION.IMS_PER_BATCH", "64", "CORRELATION.SGD_STEPS", "[3]",
               "CORRELATION.TOP_COMPARE", "0", "CORRELATION.ONE_SHOT", "False"]  # fmt: skip


@dataclass(frozen=True)
class Phase:
    """A long phase: the command running it, its time window and what must come out equal."""

    name: str
    tool: str
    overrides: List[str]
    started: Callable[[Path], bool]  # the phase is under way
    finished: Callable[[Path], bool]  # the phase is over
    writes: str  # a kill inside a write: "checkpoint" or "line", and a path it contains
    num_writes: int  # how many such writes the phase makes

    def command(self, out: Path, resume: bool = False, *extra: str) -> List[str]:
        """The tool's command line writing to ``out`` (``extra``: more overrides)."""
        config = (
            REPO
            / "configs"
            / "quick"
            / ("correlation.yaml" if self.tool == "eval_correlation" else "classification.yaml")
        )
        flags = ["--resume"] if resume else []
        return [str(REPO / "tools" / f"{self.tool}.py"), "--config-file", str(config), *flags,
                *TINY, *self.overrides, "OUTPUT_DIR", str(out), *extra]  # fmt: skip


def _exists(*parts: str) -> Callable[[Path], bool]:
    return lambda out: out.joinpath(*parts).exists()


def _lines(path: str, n: int) -> Callable[[Path], bool]:
    return lambda out: (out / path).exists() and (out / path).read_text().count("\n") >= n


def _any_file(folder: str) -> Callable[[Path], bool]:
    return lambda out: (out / folder).is_dir() and any((out / folder).iterdir())


PHASES: Dict[str, Phase] = {
    "ghn": Phase("ghn", "train_net", ["PHASES", "['ghn']", "SOLVER.MAX_ITER", "120"],
                 _exists("ghn"), _exists("ghn", "model_final.pth"), "checkpoint:ghn/", 13),
    "search": Phase("search", "train_net", ["SOLVER.MAX_ITER", "20", "SEARCH.NUM_ARCHS", "40"],
                    _lines("search/results.jsonl", 1), _exists("search", "top.md"),
                    "line:search/results.jsonl", 40),
    "final": Phase("final", "train_net", ["PHASES", "['ghn', 'search', 'final']",
                                          "SOLVER.MAX_ITER", "20", "SEARCH.NUM_ARCHS", "8", *FINAL],
                   _exists("final"), _exists("final", "results.json"), "checkpoint:final/", 5),
    "ground_truth": Phase("ground_truth", "eval_correlation",
                          [*CORRELATION, "SOLVER.MAX_ITER", "20"],
                          _any_file("correlation/ground_truth"),
                          _exists("correlation", "table.md"), "checkpoint:ground_truth/", 8),
}  # fmt: skip


def environment() -> Dict[str, str]:
    """One thread per process (the kill harness polls beside the run) and the repo on the path."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run(command: List[str], kill_write: str = "") -> subprocess.CompletedProcess:
    """Run ``command`` (a tool and its arguments) to its end, optionally killing in a write."""
    env = environment()
    if kill_write:
        env["GHNAS_KILL_WRITE"] = kill_write
        command = [str(REPO / "benchmarks" / "kill_in_write.py"), *command]
    return subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def timed_run(phase: Phase, out: Path) -> Dict[str, float]:
    """The uninterrupted run, with the seconds at which its phase started and finished."""
    process = subprocess.Popen(
        [sys.executable, *phase.command(out)], env=environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    start, window = time.perf_counter(), {}
    while process.poll() is None:
        for key, ready in (("start", phase.started), ("end", phase.finished)):
            if key not in window and ready(out):
                window[key] = time.perf_counter() - start
        time.sleep(0.01)
    if process.returncode != 0:
        raise RuntimeError(
            f"uninterrupted {phase.name} run failed: {process.stderr.read()[-2000:]}"
        )
    window.setdefault("start", 0.0)
    window.setdefault("end", time.perf_counter() - start)
    return window


def kill_after(phase: Phase, out: Path, seconds: float, rng: random.Random) -> bool:
    """Start the phase's run and SIGKILL it ``seconds`` after start; whether it was killed.

    A run that ends first (the machine was faster than in the uninterrupted run) is started
    again in an empty folder, with the moment redrawn before the end it reached (3 tries)."""
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, *phase.command(out)], env=environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        seconds = rng.uniform(0.5, 0.95) * (time.perf_counter() - started)
        shutil.rmtree(out)
    return False


# The rows a phase's run must reproduce exactly (a GHN-only run has none: its GHN is compared).
RESULTS = {
    "ghn": "search/results.jsonl",
    "search": "search/results.jsonl",
    "final": "search/results.jsonl",
    "ground_truth": "correlation/results.jsonl",
}


# Beside a search's rows: its header and its table, which must come out byte for byte the same
# (absent from both runs for the phases that write neither).
SIDE_FILES = ("results_meta.json", "results.csv")


def same_side_files(out: Path, reference: Path, results: str) -> bool:
    """Whether ``out`` and ``reference`` hold the same :data:`SIDE_FILES` beside ``results``."""
    folder = Path(results).parent
    return all(_contents(out / folder / name) == _contents(reference / folder / name)
               for name in SIDE_FILES)  # fmt: skip


def _contents(path: Path):
    return path.read_bytes() if path.exists() else None


def rows(path: Path) -> List[dict]:
    """The JSON lines of ``path`` ([] when missing)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def model_state(path: Path) -> Dict[str, torch.Tensor]:
    return (
        torch.load(path, map_location="cpu", weights_only=False)["model"] if path.exists() else {}
    )


def compare(phase: Phase, out: Path, reference: Path) -> Dict[str, object]:
    """How ``out`` differs from ``reference``: equal, and rows lost, duplicated and changed."""
    results = RESULTS[phase.name]
    mine, theirs = rows(out / results), rows(reference / results)
    keyed = {json.dumps(r, sort_keys=True) for r in mine}
    lost = sum(json.dumps(r, sort_keys=True) not in keyed for r in theirs)
    duplicated = len(mine) - len(keyed)
    hashes = [r.get("hash") for r in theirs]
    changed = sum(r.get("hash") in hashes and r not in theirs for r in mine)
    states = ["ghn/model_final.pth"] + (["final/model_final.pth"] if phase.name == "final" else [])
    same_weights = all(
        _same_state(model_state(out / s), model_state(reference / s)) for s in states
    )
    same_files = same_side_files(out, reference, results)
    equal = same_weights and same_files and mine == theirs and lost == duplicated == changed == 0
    return {"equal": equal, "lost": lost, "duplicated": duplicated, "changed": changed}


def _same_state(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def trial(
    phase: Phase, out: Path, reference: Path, kill: str, rng: random.Random
) -> Dict[str, object]:
    """Kill one run as ``kill`` says ("write:K" or "time:SECONDS"), resume it, compare."""
    how, _, value = kill.partition(":")
    if how == "write":
        kind, _, match = phase.writes.partition(":")
        killed = run(phase.command(out), kill_write=f"{kind}:{value}:{match}").returncode != 0
    else:
        killed = kill_after(phase, out, float(value), rng)
    resumed = run(phase.command(out, resume=True))
    if resumed.returncode != 0:
        return {"equal": False, "error": resumed.stderr.strip().splitlines()[-1:]}
    return {"killed": killed, **compare(phase, out, reference)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phases", default=",".join(PHASES), help="comma-separated phases")
    p.add_argument("--kills", type=int, default=20, help="killed runs per phase")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    args = p.parse_args()
    rng, table = random.Random(args.seed), []
    with tempfile.TemporaryDirectory() as work:
        for name in args.phases.split(","):
            phase = PHASES[name]
            reference = Path(work) / name / "reference"
            window = timed_run(phase, reference)
            results = []
            for i in range(args.kills):
                kill = (f"write:{rng.randint(1, phase.num_writes)}" if i % 4 == 0
                        else f"time:{rng.uniform(window['start'], window['end']):.2f}")  # fmt: skip
                result = trial(phase, Path(work) / name / f"kill{i}", reference, kill, rng)
                print(f"{name} kill {i} ({kill}): {result}", flush=True)
                results.append(result)
            table.append([name, len(results), sum(bool(r.get("killed")) for r in results),
                          sum(bool(r["equal"]) for r in results),
                          *(sum(int(r.get(k, 0)) for r in results)
                            for k in ("lost", "duplicated", "changed"))])  # fmt: skip
    headers = ["phase", "runs", "killed", "resumed = uninterrupted", "rows lost", "duplicated",
               "changed"]  # fmt: skip
    print(tabulate(table, headers=headers, tablefmt="github"))


if __name__ == "__main__":
    main()
