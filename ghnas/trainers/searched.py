"""What a final trainer reads of the search: its ranked rows and the space at another width."""

import os
from typing import Any, Callable, Dict, List

from ghnas.search.report import rank_rows
from ghnas.search.result_store import load_results
from ghnas.search_spaces import build_search_space
from ghnas.search_spaces.base import SearchSpace
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager


def search_results_path(cfg) -> str:
    """FINAL.SEARCH_RESULTS, or by default the search phase's OUTPUT_DIR/search/results.jsonl."""
    return cfg.FINAL.SEARCH_RESULTS or os.path.join(cfg.OUTPUT_DIR, "search", "results.jsonl")


def ranked_search_rows(cfg) -> List[Dict[str, Any]]:
    """The scored rows of the search results (:func:`search_results_path`), best first
    (``rank_rows``).

    Raises:
        GhnasError: No results file, or one without any scored architecture.
    """
    path = search_results_path(cfg)
    if not PathManager.exists(path):
        hint = "check FINAL.SEARCH_RESULTS" if cfg.FINAL.SEARCH_RESULTS else "run the search first"
        raise GhnasError(f"final: no search results at {path}; {hint}")
    rows = load_results(path)
    if not rows:
        raise GhnasError(f"final: {path} holds no scored architecture")
    return rank_rows(rows)


def space_at_width(cfg, meta) -> Callable[[int], SearchSpace]:
    """``space_at(width)``: the config's search space built with MODEL.INIT_CHANNELS = width."""

    def space_at(width: int) -> SearchSpace:
        wide = cfg.clone()
        wide.defrost()
        wide.MODEL.INIT_CHANNELS = width
        return build_search_space(wide, meta)

    return space_at
