"""File access for ghnas: the project's iopath ``PathManager`` and JSON-lines helpers.

Code in ghnas opens files through ``PathManager`` (as Detectron2 does), so a project may register
extra iopath path handlers (``PathManager.register_handler``) without touching the core.

The JSON-lines helpers back the search's result store: one record per line, appended as the
search goes, so an interrupted search can be resumed from the records already written.
"""

import json
import logging
import os

from iopath.common.file_io import PathManager as _PM

from ghnas.utils.errors import GhnasError

__all__ = ["PathManager", "append_jsonl_line", "read_jsonl", "write_atomically"]

logger = logging.getLogger(__name__)

PathManager = _PM()
"""The project-wide iopath path manager; register extra path handlers on it."""


def write_atomically(path: str, data, write=None) -> None:
    """Replace the local file ``path`` by ``data`` so that a kill leaves the old file or the new
    one, never a part: write ``<path>.<pid>.tmp``, fsync it, rename it over ``path``, fsync the
    folder.

    ``data`` is ``str`` or ``bytes``; or pass ``write(f)`` to fill the binary file ``f`` (as
    ``torch.save`` does) and ``data`` None.
    """
    tmp = f"{path}.{os.getpid()}.tmp"  # two processes sharing a folder never share one
    with open(tmp, "wb") as f:
        if write is not None:
            write(f)
        else:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def append_jsonl_line(path: str, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` (created if missing) as one line.

    The line is ``json.dumps(record, sort_keys=True)`` plus a newline, written with a single
    unbuffered write in append mode, then flushed and fsynced before returning. A line is thus
    never half-written under normal operation; a write cut by a kill leaves at most an
    incomplete last line, which :func:`read_jsonl` drops. ``path`` must be a local file (fsync
    needs a file descriptor).
    """
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    with PathManager.open(path, "ab", buffering=0) as f:
        written = f.write(data)
        # A regular file takes the whole line in one call; finish a short write (disk full,
        # signal) rather than leave a partial line behind.
        while written < len(data):
            written += f.write(data[written:])
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str, repair: bool = True) -> list[dict]:
    """Return the records of the JSON-lines file ``path``, in order (``[]`` if it is missing).

    The last line is the only one an interrupted :func:`append_jsonl_line` can damage: when it
    lacks its final newline or does not parse as a JSON object, it is dropped, truncated off the
    file (so later appends start on a fresh line) and a warning is logged. A malformed line
    anywhere else raises :class:`GhnasError` naming the file and the line number (1-based).
    With ``repair`` False the file is only read (a check before the run holds its folder).
    """
    if not PathManager.exists(path):
        return []
    with PathManager.open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    # After a final newline split() leaves an empty tail; otherwise the tail is a partial line.
    complete, tail = lines[:-1], lines[-1]
    records = []
    offset = 0  # byte offset of the start of the line being parsed
    for number, line in enumerate(complete, start=1):
        record = _parse(line)
        if record is None:
            if number == len(complete) and not tail:
                if repair:
                    _drop_tail(path, offset, number, len(data))
                return records
            raise GhnasError(f"{path}: line {number} is not a JSON object: {line[:80]!r}")
        records.append(record)
        offset += len(line) + 1
    if tail and repair:
        _drop_tail(path, offset, len(complete) + 1, len(data))
    return records


def _parse(line: bytes) -> dict | None:
    """The JSON object on ``line``, or ``None`` if it is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _drop_tail(path: str, offset: int, number: int, size: int) -> None:
    """Truncate ``path`` to ``offset`` bytes, dropping its incomplete last line ``number``."""
    logger.warning(
        f"{path}: dropping incomplete last line {number} ({size - offset} bytes, left by an "
        f"interrupted write); truncating the file to {offset} bytes"
    )
    local = PathManager.get_local_path(path)
    with open(local, "rb+") as f:
        f.truncate(offset)
        f.flush()
        os.fsync(f.fileno())
