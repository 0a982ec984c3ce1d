"""Progress of a phase (rate, ETA, wall time, memory) on the log, in ``metrics.jsonl`` and in
TensorBoard event files, through the writers of :mod:`ghnas.engine.events`.

Every row of ``metrics.jsonl`` holds ``phase`` and ``iteration`` (the units done: iterations of
GHN training, architectures of the search, epochs of a final run), what the trainer logged,
``elapsed_s`` (seconds the phase has run, summed over the processes of a resumed run),
``timestamp`` (Unix seconds), ``eta_s`` and the peak memory of the process in MiB:
``max_rss_mb`` (resident set) always, ``max_cuda_mb`` (allocated on the current GPU) once CUDA
is in use. The event files of a phase are in ``events/<phase>`` beside ``metrics.jsonl``.
"""

import json
import math
import os
import re
import resource
import sys
import time
from typing import Any, Dict, List, Optional

import torch

from ghnas.engine.distributed import is_main_process
from ghnas.engine.events import (
    ConsolePrinter,
    EventStorage,
    EventWriter,
    JSONWriter,
    TensorboardWriter,
)
from ghnas.utils.file_io import read_jsonl, write_atomically


class Progress:
    """Tracks a phase of ``total`` units (iterations, architectures, epochs) started at ``done``.

    ``log(done, archs, **values)`` puts the values, the rate, ETA, wall time and memory into the
    phase's :class:`EventStorage` and has every writer write them: the console line everywhere
    and, on the main process when ``metrics_path`` is given, a ``metrics.jsonl`` row and
    TensorBoard scalars. A phase resumed at ``done`` first drops its rows past ``done`` (logged
    after the checkpoint it resumes from, and about to be logged again), so every iteration is in
    the file once, and its clock continues from its last row kept. Logging the last unit closes
    the writers; :meth:`close` does it earlier.
    """

    def __init__(
        self, *, phase: str, total: int, done: int = 0, metrics_path: Optional[str] = None
    ):
        self.phase = phase
        self.total = total
        self.metrics_path = metrics_path if is_main_process() else None
        elapsed_before = 0.0
        if self.metrics_path:
            elapsed_before = _drop_records_after(self.metrics_path, phase, done)
        self.storage = EventStorage(phase, start_iter=done, elapsed_before=elapsed_before)
        self.writers = default_writers(phase, total, done, self.metrics_path)
        self._start_done = done

    def elapsed(self) -> float:
        """Seconds since this progress started (this process's share of the phase)."""
        return self.storage.seconds()

    def log(self, done: int, archs: Optional[int] = None, **values: Any) -> None:
        """Report that ``done`` units are finished (and ``archs`` architectures processed)."""
        seconds = self.storage.seconds()
        rate = (done - self._start_done) / max(seconds, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else math.inf
        if archs is not None:
            values = {**values, "archs_per_s": archs / max(seconds, 1e-9)}
        values.update(memory_usage())
        values["elapsed_s"] = round(self.storage.elapsed(), 3)
        values["timestamp"] = round(time.time(), 3)
        values["eta_s"] = round(eta, 1) if math.isfinite(eta) else None
        self.storage.put_scalars(done, **values)
        for writer in self.writers:
            writer.write(self.storage)
        if done >= self.total:  # nothing follows the last unit: release the event files now
            self.close()

    def close(self) -> None:
        """Close every writer (a later :meth:`log` reopens what it needs)."""
        for writer in self.writers:
            writer.close()


def default_writers(
    phase: str, total: int, done: int, metrics_path: Optional[str]
) -> List[EventWriter]:
    """The console printer, plus the JSON-lines and TensorBoard writers when ``metrics_path``
    is given (``events/<phase>`` beside it; a resumed phase hides its events past ``done``)."""
    writers: List[EventWriter] = [ConsolePrinter(total)]
    if metrics_path:
        writers.append(JSONWriter(metrics_path))
        writers.append(TensorboardWriter(events_dir(metrics_path, phase), purge_step=done + 1))
    return writers


def events_dir(metrics_path: str, phase: str) -> str:
    """``events/<phase>`` beside ``metrics_path`` (``top-best 1`` becomes ``top-best_1``)."""
    folder = re.sub(r"[^\w.-]+", "_", phase)
    return os.path.join(os.path.dirname(os.path.abspath(metrics_path)), "events", folder)


def memory_usage() -> Dict[str, float]:
    """Peak memory of this process so far, in MiB: ``max_rss_mb`` and, once CUDA is in use,
    ``max_cuda_mb`` (the most the caching allocator handed out on the current device)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    unit = 1 if sys.platform == "darwin" else 1024  # macOS counts bytes, Linux kilobytes
    usage = {"max_rss_mb": round(peak * unit / 2**20, 1)}
    # is_initialized, not is_available: a CPU run on a machine with a GPU has no CUDA peak.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        usage["max_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return usage


def _drop_records_after(path: str, phase: str, done: int) -> float:
    """Rewrite ``path`` (atomically) without the rows of ``phase`` past iteration ``done``;
    returns the ``elapsed_s`` of the phase's last row kept (0 when none has one)."""
    records = read_jsonl(path)
    kept = [r for r in records if not (r.get("phase") == phase and _iteration(r) > done)]
    if len(kept) < len(records):
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        write_atomically(path, text)
    mine = [r for r in kept if r.get("phase") == phase and "elapsed_s" in r]
    return float(mine[-1]["elapsed_s"]) if mine else 0.0


def _iteration(record: Dict[str, Any]) -> int:
    # Rows written before the column was named "iteration" call it "step"; a run begun then
    # and resumed now must still drop them.
    return record.get("iteration", record.get("step", 0))
