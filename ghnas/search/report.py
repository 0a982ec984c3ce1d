"""The ranked table of a search: logged, and written to ``search/top.md`` with the search cost."""

import statistics
from typing import Any, Dict, List

from tabulate import tabulate

from ghnas.utils.file_io import PathManager


def rank_rows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows by descending score, ties broken by hash (so the order is reproducible)."""
    return sorted(rows, key=lambda r: (-r["score"], r["hash"]))


def top_table(rows: List[Dict[str, Any]], k: int, criterion: str) -> str:
    """A tabulate table (GitHub markdown) of the ``k`` best rows; scores print in percent."""
    untrained = any("score_untrained_ghn" in r for r in rows)
    headers = ["rank", "hash", f"{criterion} (%)"]
    headers += ["untrained GHN (%)"] if untrained else []
    headers += ["params (M)", "FLOPs (M)"]
    table = []
    for rank, row in enumerate(rank_rows(rows)[:k], start=1):
        line = [rank, row["hash"][:12], f"{100 * row['score']:.2f}"]
        line += [f"{100 * row['score_untrained_ghn']:.2f}"] if untrained else []
        line += [f"{row['params'] / 1e6:.3f}", f"{row['flops'] / 1e6:.2f}"]
        table.append(line)
    return tabulate(table, headers=headers, tablefmt="github")


def summary_lines(rows: List[Dict[str, Any]], timings: Dict[str, str]) -> List[str]:
    """Medians (trained vs untrained GHN) and the wall time of each phase."""
    lines = [f"- architectures scored: {len(rows)}"]
    if rows:
        lines.append(
            f"- median score, trained GHN: {statistics.median(r['score'] for r in rows):.4f}"
        )
    if rows and all("score_untrained_ghn" in r for r in rows):
        median = statistics.median(r["score_untrained_ghn"] for r in rows)
        lines.append(f"- median score, untrained GHN (same architectures): {median:.4f}")
    lines += [f"- {phase}: {value}" for phase, value in timings.items()]
    return lines


def write_report(path: str, rows, k: int, criterion: str, timings: Dict[str, str], header) -> str:
    """Write ``top.md`` and return the table."""
    table = top_table(rows, k, criterion)
    text = [
        f"# Top {min(k, len(rows))} of {len(rows)} architectures ({header['space']}, {criterion})",
        "",
        f"Scored on {header['eval_images']} validation images in batches of "
        f"{header['eval_batch_size']}, seed {header['seed']}.",
        "",
        table,
        "",
        "## Summary",
        "",
        *summary_lines(rows, timings),
        "",
    ]
    with PathManager.open(path, "w") as f:
        f.write("\n".join(text))
    return table
