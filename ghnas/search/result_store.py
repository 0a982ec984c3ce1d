"""The results of one search: ``results.jsonl``, ``results_meta.json`` and ``results.csv``.

- ``results.jsonl`` holds one JSON line per scored architecture and nothing else, so
  ``pandas.read_json(path, lines=True)`` reads it as it is. Lines are appended as scored, each
  with a single write, fsynced (``append_jsonl_line``): an interrupted search loses at most the
  line being written. It is the file a resumed search continues from: it drops a torn last
  line and scores only the candidates whose hash is not there yet.
- ``results_meta.json`` holds the header (how the scores were obtained), written atomically
  before the first row; a resumed search whose header differs is refused.
- ``results.csv`` is the same rows as a flat table (``result_table``), rewritten atomically
  from ``results.jsonl`` when scoring ends. Resume never reads it, so a stale one is harmless.
"""

import json
import os
from typing import Any, Dict, List, Optional

from ghnas.search.result_table import csv_text
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, append_jsonl_line, read_jsonl, write_atomically

RESULTS_SCHEMA_VERSION = 3  # 3: the header moved from results.jsonl's first line to its own file


# Header entry -> the config key a user changes to make it differ (for the resume refusal).
HEADER_KEYS = {
    "schema_version": "the results format (1, 2: written by an older ghnas)",
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


def meta_path(path: str) -> str:
    """The header file beside the rows file ``path``: ``results.jsonl`` -> ``results_meta.json``."""
    return f"{os.path.splitext(path)[0]}_meta.json"


def csv_path(path: str) -> str:
    """The table beside the rows file ``path``: ``results.jsonl`` -> ``results.csv``."""
    return f"{os.path.splitext(path)[0]}.csv"


class ResultStore:
    """The results files of one search, named by the rows file ``path`` (``results.jsonl``);
    ``header`` describes how scores were obtained."""

    def __init__(self, path: str, header: Dict[str, Any]) -> None:
        self.path = path
        self.meta_path, self.csv_path = meta_path(path), csv_path(path)
        self.header = {"schema_version": RESULTS_SCHEMA_VERSION, **header}

    def existing_rows(self, resume: bool, repair: bool = True) -> List[Dict[str, Any]]:
        """The rows a resumed search continues from (``[]`` for a fresh start); ``repair``
        drops a torn last line from the file (see ``read_jsonl``), else it only reads.

        Raises :class:`GhnasError` naming the config key when the rows were written by a
        search with other settings (or the header is missing), or when a row is malformed.
        """
        if not resume or not PathManager.exists(self.path):
            return []
        rows = read_jsonl(self.path, repair=repair)
        if not rows:
            return []  # nothing scored: whatever the header says, starting afresh loses nothing
        self._check_header(self.read_header(), rows[0])
        for number, row in enumerate(rows, start=1):
            if not {"hash", "score", "arch"} <= set(row):
                raise GhnasError(
                    f"{self.path}, line {number}: a row needs 'arch', 'hash' and 'score'"
                )
        return rows

    def read_header(self) -> Optional[Dict[str, Any]]:
        """The header in ``results_meta.json`` (None when there is none)."""
        if not PathManager.exists(self.meta_path):
            return None
        with PathManager.open(self.meta_path) as f:
            try:
                header = json.load(f)
            except json.JSONDecodeError as e:
                raise GhnasError(f"{self.meta_path} is not JSON ({e.msg}, line {e.lineno}); "
                                 "use another OUTPUT_DIR or --overwrite") from None  # fmt: skip
        return header if isinstance(header, dict) else {}

    def _check_header(self, found: Optional[Dict[str, Any]], first_row: Dict[str, Any]) -> None:
        """Refuse rows whose header is missing or differs from this search's."""
        advice = "; use another OUTPUT_DIR or --overwrite"
        if found is None:
            why = ("its first line is a header, as an older ghnas wrote it"
                   if _is_legacy_header(first_row)
                   else f"there is no {os.path.basename(self.meta_path)} beside it")  # fmt: skip
            raise GhnasError(f"--resume: cannot tell which search wrote {self.path}: {why}{advice}")
        if found != self.header:
            raise GhnasError(f"--resume: {self.path} was written by another search: "
                             f"{_difference(found, self.header)}{advice}")  # fmt: skip

    def open(self, resume: bool) -> List[Dict[str, Any]]:
        """:meth:`existing_rows`, then fresh files when there are none to continue from."""
        rows = self.existing_rows(resume)
        if not rows:
            self.start()
        return rows

    def start(self) -> None:
        """Begin afresh: no rows, no table, this search's header."""
        # The rows go first: killed before the header is replaced, the folder holds no row
        # that the old header would vouch for, and a resume starts afresh.
        with PathManager.open(self.path, "w"):
            pass
        if PathManager.exists(self.csv_path):
            PathManager.rm(self.csv_path)
        write_atomically(self.meta_path, json.dumps(self.header, indent=2, sort_keys=True) + "\n")

    def append(self, row: Dict[str, Any]) -> None:
        """Add one scored architecture."""
        append_jsonl_line(self.path, row)

    def write_csv(self) -> None:
        """Rewrite ``results.csv`` atomically from the rows of ``results.jsonl``."""
        write_atomically(self.csv_path, csv_text(read_jsonl(self.path, repair=False)))


def _difference(found: Dict[str, Any], expected: Dict[str, Any]) -> str:
    """The first differing header entry, named by its config key."""
    key = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))[0]
    name = HEADER_KEYS.get(key, key)
    return f"{name} was {found.get(key)!r} there, {expected.get(key)!r} now"


def _is_legacy_header(row: Dict[str, Any]) -> bool:
    """Whether ``row`` is the header line that ``results.jsonl`` began with before schema 3."""
    return "schema_version" in row and "hash" not in row


def load_results(path: str) -> List[Dict[str, Any]]:
    """The scored rows of a ``results.jsonl`` (one written before schema 3 still reads: its
    header line is left out)."""
    rows = read_jsonl(path)
    return rows[1:] if rows and _is_legacy_header(rows[0]) else rows
