"""``results.jsonl``: a header line, then one line per scored architecture, appended as scored.

Each line is written with a single write and fsynced (``append_jsonl_line``), so an interrupted
search loses at most the line being written; a resumed search reads the file, drops a torn last
line, and scores only the candidates whose hash is not there yet.
"""

from typing import Any, Dict, List

from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, append_jsonl_line, read_jsonl

RESULTS_SCHEMA_VERSION = 2  # 2: the header records NUM_ARCHS and the dataset split


# Header entry -> the config key a user changes to make it differ (for the resume refusal).
HEADER_KEYS = {
    "schema_version": "the results format (1: written by an older ghnas)",
    "space": "SEARCH_SPACE.NAME",
    "space_settings": "SEARCH_SPACE.* / MODEL.INIT_CHANNELS",
    "criterion": "SEARCH.CRITERION",
    "eval_images": "SEARCH.EVAL_IMAGES",
    "eval_batch_size": "SEARCH.EVAL_BATCH_SIZE",
    "seed": "SEED",
    "split": "the dataset split (DATASETS.*, INPUT.*, DATASETS.SPLIT_SEED)",
    "num_archs": "SEARCH.NUM_ARCHS",
    "untrained_baseline": "SEARCH.UNTRAINED_BASELINE",
    "arch_batch": "SEARCH.ARCH_BATCH",
    "ghn_fingerprint": "the GHN (another checkpoint, or GHN training changed)",
    "flop_constraint": "SEARCH.CONSTRAINTS.FLOPS",
}


class ResultStore:
    """The results file of one search; ``header`` describes how scores were obtained."""

    def __init__(self, path: str, header: Dict[str, Any]) -> None:
        self.path = path
        self.header = {"schema_version": RESULTS_SCHEMA_VERSION, **header}

    def existing_rows(self, resume: bool, repair: bool = True) -> List[Dict[str, Any]]:
        """The rows a resumed search continues from (``[]`` for a fresh start); ``repair``
        drops a torn last line from the file (see ``read_jsonl``), else it only reads.

        Raises :class:`GhnasError` naming the config key when the file was written by a
        search with other settings, or when a row is malformed.
        """
        if not resume or not PathManager.exists(self.path):
            return []
        lines = read_jsonl(self.path, repair=repair)
        if not lines:
            return []
        if lines[0] != self.header:
            raise GhnasError(
                f"--resume: {self.path} was written by another search: "
                f"{_difference(lines[0], self.header)}; use another OUTPUT_DIR or --overwrite"
            )
        for number, row in enumerate(lines[1:], start=2):
            if not {"hash", "score", "arch"} <= set(row):
                raise GhnasError(
                    f"{self.path}, line {number}: a row needs 'arch', 'hash' and 'score'"
                )
        return lines[1:]

    def open(self, resume: bool) -> List[Dict[str, Any]]:
        """:meth:`existing_rows`, then a fresh file when there are none to continue from."""
        rows = self.existing_rows(resume)
        if not rows:
            self.start()
        return rows

    def start(self) -> None:
        """Begin a fresh file holding the header only."""
        with PathManager.open(self.path, "w"):
            pass
        append_jsonl_line(self.path, self.header)

    def append(self, row: Dict[str, Any]) -> None:
        """Add one scored architecture."""
        append_jsonl_line(self.path, row)


def _difference(found: Dict[str, Any], expected: Dict[str, Any]) -> str:
    """The first differing header entry, named by its config key."""
    key = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))[0]
    name = HEADER_KEYS.get(key, key)
    return f"{name} was {found.get(key)!r} there, {expected.get(key)!r} now"


def load_results(path: str) -> List[Dict[str, Any]]:
    """The scored rows of a results file (header excluded)."""
    return read_jsonl(path)[1:]
