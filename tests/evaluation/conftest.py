"""The tiny correlation run the evaluation tests share (one per test session)."""

import pytest
from tiny_correlation import run


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One ground-truth cache: the single run and the sweep share it."""
    return tmp_path_factory.mktemp("ground_truth")


@pytest.fixture(scope="session")
def single_run(tmp_path_factory, cache_dir):
    """The one-process benchmark with Random-vs-top (2 of 6): its folder and summary."""
    out = tmp_path_factory.mktemp("single")
    summary = run(out, cache_dir, "CORRELATION.TOP_COMPARE", 2, "CORRELATION.TOP_CANDIDATES", 6)
    return out, summary
