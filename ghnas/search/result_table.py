"""``results.csv``: the rows of ``results.jsonl`` as one flat table, for spreadsheets and pandas.

One column per scalar field. A nested dict (``baselines``, ``baseline_seconds``, ``one_shot``)
becomes one column per entry, named ``parent.child`` as ``pandas.json_normalize`` names them, so
``df["baselines.synflow"]`` is a number column. The architecture and every list (``exits``)
stay whole, JSON-encoded in one cell: each is one value, and ``json.loads`` of the cell gives
back what ``Architecture.from_dict`` takes. Columns: ``hash``, ``score``, ``params``, ``flops``,
then the others sorted, then ``arch`` (long, so last). A field a row lacks is an empty cell.
"""

import csv
import io
import json
from typing import Any, Dict, Iterable, List

LEADING = ("hash", "score", "params", "flops")  # the fields a reader looks at first
WHOLE = ("arch",)  # dicts kept as one JSON cell (and put last: they are long)


def flat_row(row: Dict[str, Any]) -> Dict[str, Any]:
    """``row`` with nested dicts spread into ``parent.child`` keys, lists and ``arch`` as JSON."""
    flat: Dict[str, Any] = {}
    _flatten(row, "", flat)
    return flat


def _flatten(record: Dict[str, Any], prefix: str, into: Dict[str, Any]) -> None:
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, dict) and name not in WHOLE:
            _flatten(value, name + ".", into)
        elif isinstance(value, (dict, list)):
            into[name] = json.dumps(value, sort_keys=True)
        else:
            into[name] = value


def table_columns(flat_rows: Iterable[Dict[str, Any]]) -> List[str]:
    """Every key of ``flat_rows``: :data:`LEADING`, the others sorted, :data:`WHOLE` last.
    Without rows, the fields every row has, so the file still has a header."""
    names = set().union(*flat_rows) or {"hash", "score", "arch"}
    ends = set(LEADING) | set(WHOLE)
    return [
        *(c for c in LEADING if c in names),
        *sorted(names - ends),
        *(c for c in WHOLE if c in names),
    ]


def csv_text(rows: List[Dict[str, Any]]) -> str:
    """The CSV file of ``rows``: a header line of column names, then one line per row."""
    flat = [flat_row(row) for row in rows]
    buffer = io.StringIO()
    # csv writes floats with repr(), so every score reads back as the same float.
    writer = csv.DictWriter(buffer, fieldnames=table_columns(flat), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()
