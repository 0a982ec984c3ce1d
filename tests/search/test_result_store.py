"""The results layout: rows in ``results.jsonl``, the header in ``results_meta.json``, the same
rows flattened in ``results.csv``; a cut search resumed ends with the uncut one's three files."""

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
from tiny_config import TINY_OVERRIDES

from ghnas.engine import default_argument_parser
from ghnas.search import ResultStore, load_results
from ghnas.search.result_store import RESULTS_SCHEMA_VERSION
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "configs" / "quick" / "classification.yaml")
HEADER = {"space": "toy", "seed": 0, "num_archs": 3}
ROWS = [
    {"arch": {"nodes": [{"op": "conv", "inputs": [0]}]}, "hash": f"h{i}", "score": 0.1 * i + 1e-17,
     "params": 10 + i, "flops": 2.5e6, "baselines": {"synflow": -1.5 * i, "naswot": 3.0},
     "exits": [{"node": 2, "accuracy": 0.5}], "one_shot": {"score": None}}
    for i in range(3)
]  # fmt: skip
NAMES = ("results.jsonl", "results_meta.json", "results.csv")


def written_store(folder: Path, header=HEADER, rows=ROWS) -> ResultStore:
    """A store in ``folder`` started afresh, holding ``rows``, its table written."""
    store = ResultStore(str(folder / "results.jsonl"), header)
    assert store.open(resume=False) == []
    for row in rows:
        store.append(row)
    store.write_csv()
    return store


def read_csv(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_rows_file_holds_rows_only_and_the_header_its_own_file(tmp_path):
    store = written_store(tmp_path)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    assert load_results(store.path) == ROWS
    meta = json.loads((tmp_path / "results_meta.json").read_text())
    assert meta == {"schema_version": RESULTS_SCHEMA_VERSION, **HEADER} == store.header


def test_the_header_is_written_before_the_first_row_and_a_fresh_start_drops_the_table(tmp_path):
    written_store(tmp_path)
    store = ResultStore(str(tmp_path / "results.jsonl"), {**HEADER, "seed": 1})
    store.open(resume=False)
    assert (tmp_path / "results.jsonl").read_text() == ""
    assert json.loads((tmp_path / "results_meta.json").read_text())["seed"] == 1
    assert not (tmp_path / "results.csv").exists()  # the old run's table would be stale


def test_the_table_holds_the_same_rows_in_flat_columns(tmp_path):
    written_store(tmp_path)
    table = read_csv(tmp_path / "results.csv")
    assert list(table[0]) == ["hash", "score", "params", "flops", "baselines.naswot",
                              "baselines.synflow", "exits", "one_shot.score", "arch"]  # fmt: skip
    for cells, row in zip(table, ROWS, strict=True):
        assert cells["hash"] == row["hash"] and float(cells["score"]) == row["score"]
        assert int(cells["params"]) == row["params"]
        assert float(cells["baselines.synflow"]) == row["baselines"]["synflow"]
        assert json.loads(cells["arch"]) == row["arch"]  # one value, whole
        assert json.loads(cells["exits"]) == row["exits"]
        assert cells["one_shot.score"] == ""  # None: an empty cell


def test_pandas_reads_both_files_as_the_same_rows(tmp_path):
    pandas = pytest.importorskip("pandas")
    written_store(tmp_path)
    lines = pandas.read_json(tmp_path / "results.jsonl", lines=True)
    table = pandas.read_csv(tmp_path / "results.csv")
    assert list(lines["hash"]) == list(table["hash"]) == [r["hash"] for r in ROWS]
    assert list(lines["score"]) == list(table["score"]) == [r["score"] for r in ROWS]
    assert "schema_version" not in lines.columns
    assert list(table["baselines.synflow"]) == [r["baselines"]["synflow"] for r in ROWS]


def test_resume_continues_from_the_rows_and_refuses_another_header(tmp_path):
    written_store(tmp_path)
    same = ResultStore(str(tmp_path / "results.jsonl"), HEADER)
    assert same.open(resume=True) == ROWS
    other = ResultStore(str(tmp_path / "results.jsonl"), {**HEADER, "num_archs": 4})
    with pytest.raises(GhnasError, match=r"SEARCH.NUM_ARCHS was 3 there, 4 now") as info:
        other.existing_rows(resume=True)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage", ["missing", "not-json"])
def test_resume_refuses_rows_without_a_readable_header(tmp_path, damage):
    written_store(tmp_path)
    meta = tmp_path / "results_meta.json"
    meta.unlink() if damage == "missing" else meta.write_text('{"space": ')
    store = ResultStore(str(tmp_path / "results.jsonl"), HEADER)
    expected = "no results_meta.json beside it" if damage == "missing" else "is not JSON"
    with pytest.raises(GhnasError, match=expected):
        store.existing_rows(resume=True)


def test_an_older_file_with_its_header_line_is_read_but_not_resumed(tmp_path):
    path = tmp_path / "results.jsonl"
    old = [{"schema_version": 2, **HEADER}, *ROWS]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    assert load_results(str(path)) == ROWS  # a final phase or an export still reads it
    with pytest.raises(GhnasError, match="its first line is a header, as an older ghnas"):
        ResultStore(str(path), HEADER).existing_rows(resume=True)


def run_search(out: Path, resume: bool = False) -> None:
    sys.path.insert(0, str(REPO / "tools"))
    import train_net

    flags = ["--resume"] if resume else []
    train_net.main(default_argument_parser().parse_args(
        ["--config-file", QUICK, *flags, *TINY_OVERRIDES, "OUTPUT_DIR", str(out)]
    ))  # fmt: skip


def test_a_cut_search_resumed_ends_with_the_uncut_files(tmp_path):
    uncut, cut = tmp_path / "uncut", tmp_path / "cut"
    run_search(uncut)
    search = uncut / "search"
    rows = (search / "results.jsonl").read_text().splitlines()
    assert len(rows) == 12 and all("hash" in json.loads(line) for line in rows)
    assert [r["hash"] for r in read_csv(search / "results.csv")] == [
        json.loads(line)["hash"] for line in rows
    ]
    # Killed mid-way: 5 rows and half of the sixth, and the table torn in half as well.
    shutil.copytree(uncut, cut)
    torn = "\n".join(rows[:5]) + "\n" + rows[5][: len(rows[5]) // 2]
    (cut / "search" / "results.jsonl").write_text(torn)
    table = (search / "results.csv").read_text()
    (cut / "search" / "results.csv").write_text(table[: len(table) // 2])
    run_search(cut, resume=True)
    for name in NAMES:
        assert (cut / "search" / name).read_bytes() == (search / name).read_bytes(), name
