"""Run a ghnas tool that SIGKILLs itself halfway through one of its writes (fault injection).

    GHNAS_KILL_WRITE=checkpoint:3:final/ python benchmarks/kill_in_write.py tools/train_net.py ...

``checkpoint:K:MATCH`` dies in the K-th checkpoint save (``*.pth`` through ``write_atomically``)
whose path contains MATCH, after half of its bytes reached the temporary file; ``line:K:MATCH``
dies in the K-th JSON-lines append to such a path after half of the line reached the file.
Nothing in ghnas knows about this: the wrapper swaps the two write functions before the tool
imports them, so what is killed is the real save path.
"""

import io
import json
import os
import runpy
import signal
import sys

import ghnas.utils.file_io as file_io

KIND, NUMBER, MATCH = (os.environ.get("GHNAS_KILL_WRITE", "") + "::").split(":")[:3]
TARGET = int(NUMBER or 0)
calls = {"checkpoint": 0, "line": 0}


def die_after_half(path: str, data: bytes, mode: str) -> None:
    """Write the first half of ``data`` to ``path``, make it durable, then SIGKILL."""
    with open(path, mode) as f:
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def write_atomically(path, data, write=None):
    if path.endswith(".pth") and MATCH in path:
        calls["checkpoint"] += 1
        if KIND == "checkpoint" and calls["checkpoint"] == TARGET:
            buffer = io.BytesIO()
            write(buffer) if write is not None else buffer.write(data)
            die_after_half(f"{path}.{os.getpid()}.tmp", buffer.getvalue(), "wb")
    return real_write_atomically(path, data, write)


def append_jsonl_line(path, record):
    calls["line"] += MATCH in path
    if KIND == "line" and MATCH in path and calls["line"] == TARGET:
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        die_after_half(path, line, "ab")
    return real_append_jsonl_line(path, record)


real_write_atomically, real_append_jsonl_line = file_io.write_atomically, file_io.append_jsonl_line
file_io.write_atomically, file_io.append_jsonl_line = write_atomically, append_jsonl_line

if __name__ == "__main__":
    tool = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(tool)))
    runpy.run_path(tool, run_name="__main__")
