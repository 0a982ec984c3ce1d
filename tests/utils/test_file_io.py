"""JSON-lines helpers of ghnas.utils.file_io: round trip and recovery from interrupted writes."""

import logging

import pytest

from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager, append_jsonl_line, read_jsonl

RECORDS = [{"arch": "a1", "accuracy": 0.5}, {"arch": "a2", "accuracy": 0.25, "rank": [1, 2]}]


def test_round_trip(tmp_path):
    """Appended records read back equal, in order, one sorted-key line each."""
    path = str(tmp_path / "results.jsonl")
    assert read_jsonl(path) == []
    for record in RECORDS:
        append_jsonl_line(path, record)
    assert read_jsonl(path) == RECORDS
    with PathManager.open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == '{"accuracy": 0.5, "arch": "a1"}'
    assert len(lines) == len(RECORDS)


@pytest.mark.parametrize("tail", ['{"arch": "a3", "accu', '{"arch": "a3"}', '{"arch": \n'])
def test_truncated_last_line_is_dropped_and_removed(tmp_path, caplog, tail):
    """A last line cut by a kill is dropped, truncated off the file, and appends then work."""
    path = tmp_path / "results.jsonl"
    for record in RECORDS:
        append_jsonl_line(str(path), record)
    intact = path.read_bytes()
    with open(path, "a") as f:
        f.write(tail)

    with caplog.at_level(logging.WARNING, logger="ghnas.utils.file_io"):
        assert read_jsonl(str(path)) == RECORDS
    assert "line 3" in caplog.text
    assert path.read_bytes() == intact

    append_jsonl_line(str(path), {"arch": "a4"})
    assert read_jsonl(str(path)) == RECORDS + [{"arch": "a4"}]


def test_malformed_middle_line_raises(tmp_path):
    """A malformed line that is not the last one is an error naming the file and the line."""
    path = tmp_path / "results.jsonl"
    append_jsonl_line(str(path), RECORDS[0])
    with open(path, "a") as f:
        f.write("not json\n")
    append_jsonl_line(str(path), RECORDS[1])
    before = path.read_bytes()

    with pytest.raises(GhnasError, match=r"results\.jsonl: line 2 "):
        read_jsonl(str(path))
    assert path.read_bytes() == before
