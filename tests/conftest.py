"""Shared test fixtures: the real data in ../shared/data, found through GHNAS_SHARED_DATA.

Where the data is absent (a user's machine) the tests that need it skip with the reason; CI sets
GHNAS_REQUIRE_SHARED_DATA=1, which turns that skip into a failure (also for a missing test-only
package, see :func:`require_test_module`).
"""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests measure correctness, not speed: keep them on one thread so two test processes never
# fight over the two cores.
torch.set_num_threads(1)


def shared_data_dir() -> Path:
    """The resolved directory of the shared data (it may not exist)."""
    default = REPO_ROOT.parent / "shared" / "data"
    return Path(os.environ.get("GHNAS_SHARED_DATA", default)).resolve()


def require_shared_file(relative: str) -> Path:
    """Path of ``relative`` under the shared data; skip (or fail in CI) when it is missing."""
    path = shared_data_dir() / relative
    if not path.exists():
        reason = f"shared data file {path} not found (set GHNAS_SHARED_DATA)"
        if os.environ.get("GHNAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def cifar10_1k() -> Path:
    """The 1,000-image CIFAR-10 arrays file."""
    return require_shared_file("cifar10/cifar10-1k.npz")


def require_test_module(name: str, install: str):
    """Import the test-only package ``name``; skip (or fail in CI) with how to ``install`` it."""
    try:
        return __import__(name)
    except ImportError:
        reason = f"the test-only package {name} is not installed ({install})"
        if os.environ.get("GHNAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def require_plugin(name: str, install: str) -> None:
    """Skip (or fail in CI) unless the ghnas plug-in ``name`` is installed (``install``: how)."""
    from ghnas.plugins import installed_plugins

    if name not in installed_plugins():
        reason = f"the ghnas plug-in {name} is not installed ({install})"
        if os.environ.get("GHNAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def nasbench201_plugin() -> None:
    """The NAS-Bench-201 project, installed as a plug-in (tests/projects use it)."""
    require_plugin("nasbench201", "pip install -e projects/NASBench201")


@pytest.fixture(scope="session")
def correlation_cache(tmp_path_factory):
    """One ground-truth cache of the tiny correlation benchmark (tests/evaluation/
    tiny_correlation.py): its one-process run and its sweep share it."""
    return tmp_path_factory.mktemp("ground_truth")


@pytest.fixture(scope="session")
def correlation_run(tmp_path_factory, correlation_cache):
    """The tiny correlation benchmark in one process, with Random-vs-top (2 of 6): its folder
    and summary (the report tests read it, the two-rank test compares with it)."""
    from tiny_correlation import run

    out = tmp_path_factory.mktemp("single")
    summary = run(out, correlation_cache, "CORRELATION.TOP_COMPARE", 2,
                  "CORRELATION.TOP_CANDIDATES", 6)  # fmt: skip
    return out, summary
