"""Top-Best (section 5.1.1): which of the briefly trained candidates goes on to full training."""

from typing import Any, Dict, List


def pick_best(candidates: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The candidate with the highest ``val_accuracy``; a tie goes to the better search rank.

    Only the validation accuracy counts: the test split must never choose the architecture
    whose test accuracy is then reported.
    """
    if not candidates:
        raise ValueError("Top-Best needs at least one candidate")
    return min(candidates, key=lambda c: (-c["val_accuracy"], c["search_rank"]))
