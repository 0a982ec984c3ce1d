"""``results.jsonl``: a header line, then one line per scored architecture, appended as scored.

Each line is written with a single write and fsynced (``append_jsonl_line``), so an interrupted
search loses at most the line being written; a resumed search reads the file, drops a torn last
line, and scores only the candidates whose hash is not there yet.
"""

from typing import Any, Dict, List

from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, append_jsonl_line, read_jsonl

RESULTS_SCHEMA_VERSION = 1


class ResultStore:
    """The results file of one search; ``header`` describes how scores were obtained."""

    def __init__(self, path: str, header: Dict[str, Any]) -> None:
        self.path = path
        self.header = {"schema_version": RESULTS_SCHEMA_VERSION, **header}

    def open(self, resume: bool) -> List[Dict[str, Any]]:
        """Start the file (or, resuming, check its header) and return the rows already there."""
        if resume and PathManager.exists(self.path):
            lines = read_jsonl(self.path)
            if lines:
                if lines[0] != self.header:
                    raise GhnasError(
                        f"{self.path} was written by a search with other settings "
                        f"({_difference(lines[0], self.header)}); use another OUTPUT_DIR or "
                        "run without --resume"
                    )
                for number, row in enumerate(lines[1:], start=2):
                    if not {"hash", "score", "arch"} <= set(row):
                        raise GhnasError(
                            f"{self.path}, line {number}: a row needs 'arch', 'hash' and 'score'"
                        )
                return lines[1:]
        with PathManager.open(self.path, "w"):
            pass
        append_jsonl_line(self.path, self.header)
        return []

    def append(self, row: Dict[str, Any]) -> None:
        """Add one scored architecture."""
        append_jsonl_line(self.path, row)


def _difference(found: Dict[str, Any], expected: Dict[str, Any]) -> str:
    keys = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
    return ", ".join(f"{k}: {found.get(k)!r} vs {expected.get(k)!r}" for k in keys)


def load_results(path: str) -> List[Dict[str, Any]]:
    """The scored rows of a results file (header excluded)."""
    return read_jsonl(path)[1:]
