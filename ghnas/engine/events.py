"""Where a phase's logged scalars go, in the shape of Detectron2's event storage and writers.

A :class:`~ghnas.engine.progress.Progress` keeps one :class:`EventStorage` for the phase it
tracks and, at every logged iteration, hands it to its writers: :class:`JSONWriter` (one line
of ``metrics.jsonl``), :class:`TensorboardWriter` (TensorBoard event files, through
``torch.utils.tensorboard``) and :class:`ConsolePrinter` (one line on the ``ghnas`` log). A new
sink is one more :class:`EventWriter`; the trainers only ever call ``Progress.log``.
"""

import logging
import math
import numbers
import os
import re
import time
from typing import Any, Dict, Optional

from ghnas.utils.file_io import append_jsonl_line

logger = logging.getLogger("ghnas")

# Scalars that describe when a row was logged rather than how training goes: the files keep
# them, but they are no curve to draw (TensorBoard stamps each event with its wall time itself).
BOOKKEEPING = ("elapsed_s", "timestamp", "eta_s")
# The names torch.utils.tensorboard gives event files: the second they were made comes first.
_EVENT_FILE = re.compile(r"events\.out\.tfevents\.(\d+)\.")


class EventStorage:
    """The scalars a phase logged last, with the iteration they belong to, and its clock.

    Args:
        phase: The phase's name (``ghn``, ``search``, ``final``, ``top-best 1``...).
        start_iter: The iteration the phase starts (or resumes) at.
        elapsed_before: Seconds the phase ran before this process took over (a resumed run).
    """

    def __init__(self, phase: str, *, start_iter: int = 0, elapsed_before: float = 0.0) -> None:
        self.phase = phase
        self.iter = start_iter
        self.elapsed_before = elapsed_before
        self._start_time = time.perf_counter()
        self._latest: Dict[str, Any] = {}

    def seconds(self) -> float:
        """Seconds since this storage was made (this process's share of the phase)."""
        return time.perf_counter() - self._start_time

    def elapsed(self) -> float:
        """Seconds the phase has run, earlier processes of a resumed run included."""
        return self.elapsed_before + self.seconds()

    def put_scalars(self, iteration: int, **values: Any) -> None:
        """Record ``values`` as the state at ``iteration``; they replace the previous ones."""
        self.iter = iteration
        self._latest = dict(values)

    def latest(self) -> Dict[str, Any]:
        """The values of the last :meth:`put_scalars`, by name."""
        return dict(self._latest)


class EventWriter:
    """Writes what an :class:`EventStorage` holds, every time it is asked to."""

    def write(self, storage: EventStorage) -> None:
        """Write the storage's latest values."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the writer holds open (it may be asked to write again later)."""


class JSONWriter(EventWriter):
    """Appends ``{"phase", "iteration", **values}`` as one line to the JSON-lines ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, storage: EventStorage) -> None:
        """Append the latest values as one fsynced line (see ``append_jsonl_line``)."""
        record = {"phase": storage.phase, "iteration": storage.iter, **storage.latest()}
        append_jsonl_line(self.path, record)


class TensorboardWriter(EventWriter):
    """Every numeric scalar (but :data:`BOOKKEEPING`) as a TensorBoard scalar at its iteration.

    Args:
        log_dir: The folder of the phase's event files; a resumed phase adds a file beside the
            earlier ones, which stay.
        purge_step: Events of earlier files from this iteration on are hidden when TensorBoard
            reads the folder: they were logged after the checkpoint a resumed run continues
            from, and are about to be logged again.
    """

    def __init__(self, log_dir: str, *, purge_step: Optional[int] = None) -> None:
        self.log_dir = log_dir
        self.purge_step = purge_step
        self._writer = None

    def write(self, storage: EventStorage) -> None:
        """Add the scalars and flush them to disk, so a killed run keeps what it logged."""
        if self._writer is None:
            # Imported and opened on the first write only: the import costs a second at start-up,
            # and a phase that logs nothing (already done) leaves no empty event file.
            from torch.utils.tensorboard import SummaryWriter

            _wait_for_a_new_second(self.log_dir)
            self._writer = SummaryWriter(self.log_dir, purge_step=self.purge_step)
        for name, value in storage.latest().items():
            if name not in BOOKKEEPING and _is_finite_number(value):
                self._writer.add_scalar(name, value, storage.iter)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file (a later write opens a new one in the same folder)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ConsolePrinter(EventWriter):
    """``phase [iteration/total]  name: value ...  ETA: h:mm:ss`` on the ``ghnas`` log."""

    def __init__(self, total: int) -> None:
        self.total = total

    def write(self, storage: EventStorage) -> None:
        """Log one INFO line (ranks other than 0 log warnings only, so they print nothing)."""
        values = storage.latest()
        shown = [f"{k.replace('_per_', '/')}: {_fmt(v)}" for k, v in values.items()
                 if k not in BOOKKEEPING]  # fmt: skip
        eta = _duration(values.get("eta_s"))
        logger.info(
            f"{storage.phase} [{storage.iter}/{self.total}]  {'  '.join(shown)}  ETA: {eta}"
        )


def _wait_for_a_new_second(log_dir: str) -> None:
    """Return once an event file made now is named after every file already in ``log_dir``.

    TensorBoard reads a folder's files in name order, and a name starts with the second the file
    was made, then a per-process counter, so two files of one process in one second (a phase
    resumed in the same session) can sort the wrong way round (counter 10 before 9), and the
    resumed events would be read first and hidden by the older ones.
    """
    if not os.path.isdir(log_dir):
        return
    seconds = [int(m.group(1)) for m in map(_EVENT_FILE.match, os.listdir(log_dir)) if m]
    now = time.time()
    if seconds and max(seconds) == int(now):  # a file from a clock set ahead cannot be helped
        time.sleep(int(now) + 1 - now)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
