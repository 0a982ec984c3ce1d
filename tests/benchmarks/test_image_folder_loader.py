"""benchmarks/image_folder_loader.py: a ``--tiny`` run times 0 and 1 workers over a JPEG folder
it writes, and a bad ``--workers`` is one line."""

import sys
from pathlib import Path

import pytest

from ghnas.utils.errors import GhnasError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import image_folder_loader  # noqa: E402


def test_tiny_run_gives_a_rate_and_a_ratio_per_worker_count(capsys):
    rows = image_folder_loader.main(image_folder_loader.parser().parse_args(["--tiny"]))
    assert [r[0] for r in rows] == [0, 1] and rows[0][2] == "1.00x"
    assert all(float(r[1]) > 0 and float(r[2].rstrip("x")) > 0 for r in rows)
    assert "images/s | vs 0 workers" in capsys.readouterr().out


def test_bad_workers_is_one_line():
    args = image_folder_loader.parser().parse_args(["--tiny", "--workers", "two"])
    with pytest.raises(GhnasError, match="--workers must be comma-separated counts, got 'two'"):
        image_folder_loader.main(args)
