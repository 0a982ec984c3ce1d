"""One writer per output folder, and no run silently written over another.

:func:`claim_output_dir` is the first thing an entry point writes. It checks that ``OUTPUT_DIR``
can be a folder of this run, takes an exclusive ``fcntl.flock`` on ``OUTPUT_DIR/.lock`` (the OS
releases it when the process dies, however it dies, so a killed run never leaves a stale lock)
and, for a fresh run (no ``--resume``) into a folder that already holds one, refuses, or with
``--overwrite`` moves the old run aside to ``<OUTPUT_DIR>.old-<time>`` first, so that files of
two runs never mix. Under torchrun rank 0 holds the lock for all ranks.
"""

import fcntl
import os
import tempfile
import time
from typing import Optional, TextIO

from ghnas.utils.errors import GhnasError

LOCK_NAME = ".lock"
# What a run leaves behind; a folder with none of these holds no run (a log alone is not one).
RUN_MARKERS = ("config.yaml", "ghn", "search", "final", "correlation", "one_shot", "ablation",
               "export", "metrics.jsonl")  # fmt: skip

REFUSAL = ("OUTPUT_DIR {path} already holds a run; pass --resume to continue it or --overwrite "
           "to start again (the old run is moved aside)")  # fmt: skip

_held: Optional[TextIO] = None  # the open lock file of this process's claimed folder


def check_writable_folder(path: str, key: str = "OUTPUT_DIR") -> None:
    """Raise :class:`GhnasError` naming ``key`` unless ``path`` is a folder this process can
    create or write. Tried for real (a temporary folder made and removed in the nearest
    existing one), since permission bits say nothing for root or on a read-only mount."""
    if not path.strip():
        raise GhnasError(f"{key} is empty; name a folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise GhnasError(f"{key}: {path} is a file, not a folder")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the nearest folder that exists decides
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise GhnasError(f"{key}: {path} lies under the file {existing}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".ghnas-write-test-", dir=existing))
    except OSError as e:
        raise GhnasError(f"{key}: cannot write in {existing} ({e.strerror})") from None


def holds_run(path: str) -> bool:
    """Whether ``path`` holds what a run writes (see ``RUN_MARKERS``)."""
    return any(os.path.exists(os.path.join(path, name)) for name in RUN_MARKERS)


def claim_output_dir(
    path: str, *, resume: bool, overwrite: bool, fresh_run: bool = True
) -> Optional[str]:
    """Create and lock ``path`` for this process; returns where an overwritten run went.

    With ``fresh_run`` (a training run, not an add-on such as an export) and neither ``resume``
    nor ``overwrite``, a folder that already holds a run is refused; ``overwrite`` moves that
    run aside first. Raises :class:`GhnasError` (one line) if the folder is bad or locked.
    """
    global _held
    check_writable_folder(path)
    release_output_dir()  # one folder per process: a second run in this process takes over
    if resume and overwrite:
        raise GhnasError("--resume continues the run in OUTPUT_DIR and --overwrite replaces it; "
                         "give one of them")  # fmt: skip
    refuse_fresh = fresh_run and not resume and not overwrite
    if refuse_fresh and holds_run(path):  # refused before even the lock file is made
        raise GhnasError(REFUSAL.format(path=path))
    try:
        os.makedirs(path, exist_ok=True)
        lock = open(os.path.join(path, LOCK_NAME), "a+")
    except OSError as e:
        raise GhnasError(f"OUTPUT_DIR: cannot write {path}: {e.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "unknown"
        lock.close()
        raise GhnasError(f"OUTPUT_DIR {path} is in use by another run (pid {owner}); wait for "
                         "it to finish or choose another OUTPUT_DIR") from None  # fmt: skip
    _held = lock
    aside = None
    if fresh_run and not resume and holds_run(path):
        if not overwrite:  # a run that appeared while this one waited for the lock
            release_output_dir()
            raise GhnasError(REFUSAL.format(path=path))
        aside = move_run_aside(path)
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")  # who holds it, for the refusal of a second writer
    lock.flush()
    return aside


def move_run_aside(path: str) -> str:
    """Move the run's own entries of ``path`` (``RUN_MARKERS`` and its log) into
    ``<path>.old-<time>``, leaving anything else; returns that folder."""
    base = f"{os.path.abspath(path)}.old-{time.strftime('%Y%m%d-%H%M%S')}"
    aside, suffix = base, 1
    while os.path.exists(aside):
        suffix += 1
        aside = f"{base}-{suffix}"
    os.makedirs(aside)
    for name in (*RUN_MARKERS, "log.txt"):
        if os.path.exists(os.path.join(path, name)):
            os.replace(os.path.join(path, name), os.path.join(aside, name))
    return aside


def release_output_dir() -> None:
    """Release this process's lock (also released by the OS when the process ends)."""
    global _held
    if _held is not None:
        fcntl.flock(_held, fcntl.LOCK_UN)
        _held.close()
        _held = None
