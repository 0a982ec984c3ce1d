"""Progress lines (rate, ETA) on the log and as JSON lines in ``metrics.jsonl``."""

import json
import logging
import time
from typing import Any, Optional

from ghnas.utils.file_io import append_jsonl_line, read_jsonl, write_atomically

logger = logging.getLogger("ghnas")


class Progress:
    """Tracks a phase of ``total`` units (iterations, architectures) started at ``done``.

    ``log(done, archs, **values)`` prints ``phase [done/total] ... archs/s, ETA`` and appends the
    same record to ``metrics_path`` (if given). A phase resumed at ``done`` first drops its
    records past ``done`` (logged after the checkpoint it resumes from, and about to be logged
    again), so every step is in the file once.
    """

    def __init__(
        self, *, phase: str, total: int, done: int = 0, metrics_path: Optional[str] = None
    ):
        self.phase = phase
        self.total = total
        self.metrics_path = metrics_path
        self._start_time = time.perf_counter()
        self._start_done = done
        if metrics_path:
            _drop_records_after(metrics_path, phase, done)

    def elapsed(self) -> float:
        """Seconds since this progress started."""
        return time.perf_counter() - self._start_time

    def log(self, done: int, archs: Optional[int] = None, **values: Any) -> None:
        """Report that ``done`` units are finished (and ``archs`` architectures processed)."""
        elapsed = self.elapsed()
        rate = (done - self._start_done) / max(elapsed, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        if archs is not None:
            values = {**values, "archs_per_s": archs / max(elapsed, 1e-9)}
        shown = "  ".join(f"{k.replace('_per_', '/')}: {_fmt(v)}" for k, v in values.items())
        logger.info(f"{self.phase} [{done}/{self.total}]  {shown}  ETA: {_duration(eta)}")
        if self.metrics_path:
            record = {"phase": self.phase, "step": done, **values}
            record["eta_s"] = round(eta, 1) if eta != float("inf") else None
            append_jsonl_line(self.metrics_path, record)


def _drop_records_after(path: str, phase: str, done: int) -> None:
    """Rewrite ``path`` (atomically) without the records of ``phase`` past step ``done``."""
    records = read_jsonl(path)
    kept = [r for r in records if not (r.get("phase") == phase and r.get("step", 0) > done)]
    if len(kept) < len(records):
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        write_atomically(path, text)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
