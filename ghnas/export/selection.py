"""Which architecture to export: read from an ``arch.json`` or the N-th best of a results.jsonl."""

import json
import os
from typing import Any, Dict, Optional, Tuple

from ghnas.search.report import rank_rows
from ghnas.search.result_store import load_results
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager


def read_architecture(path: str, rank: Optional[int] = None) -> Tuple[Dict[str, Any], str]:
    """The architecture dict in ``path`` and where it came from (for the manifest).

    ``path`` is a ``results.jsonl`` of a search (``rank`` is 1-based over descending score, ties
    broken by hash; 1 by default) or an ``arch.json``: a bundle's (``{"arch": ...}``) or a plain
    architecture dict as ``arch.to_dict()`` writes it.
    """
    if not PathManager.exists(path):
        raise GhnasError(f"--arch: {path} not found")
    if PathManager.isdir(path):
        raise GhnasError(f"--arch: {path} is a folder; name an arch.json or a results.jsonl")
    if path.endswith(".jsonl"):
        found = load_results(path)
        for number, row in enumerate(found, start=1):
            if not isinstance(row.get("score"), (int, float)) or "arch" not in row:
                raise GhnasError(
                    f"--arch: {path}, line {number}: a row needs 'arch' and a numeric 'score'"
                )
        rows = rank_rows(found)
        rank = 1 if rank is None else rank
        if not rows:
            raise GhnasError(f"--arch: {path} holds no scored architecture")
        if not 1 <= rank <= len(rows):
            raise GhnasError(
                f"--rank {rank}: {path} ranks {len(rows)} architectures (1..{len(rows)})"
            )
        row = rows[rank - 1]
        return row["arch"], f"{os.path.abspath(path)} rank {rank} (score {row['score']:.4g})"
    if rank is not None:
        raise GhnasError("--rank applies to a results.jsonl, not to an arch.json")
    with PathManager.open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise GhnasError(f"--arch: {path} is not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise GhnasError(f"--arch: {path} holds no architecture object")
    return data.get("arch", data), os.path.abspath(path)
