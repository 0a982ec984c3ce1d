"""Ground-truth training: cached, and an interrupted run continues to the same result."""

import pytest
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.evaluation import ground_truth
from ghnas.evaluation.correlation import CorrelationBenchmark
from ghnas.utils.errors import GhnasError


def make_benchmark(tmp_path, cache, *overrides):
    cfg = get_cfg()
    cfg.merge_from_list(
        TINY_OVERRIDES
        + ["OUTPUT_DIR", str(tmp_path), "DATASETS.TEST_SIZE", 100, "CORRELATION.NUM_ARCHS", 3]
        + ["CORRELATION.EPOCHS", 2, "CORRELATION.IMS_PER_BATCH", 64, "CORRELATION.TOP_COMPARE", 0]
        + ["CORRELATION.SGD_STEPS", [3, 30], "CORRELATION.CACHE_DIR", str(cache), *overrides]
    )
    return CorrelationBenchmark.from_config(cfg, build_dataset(cfg))


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    reference = make_benchmark(tmp_path / "a", tmp_path / "cache_a")
    expected = [reference.ground_truth.measure(arch) for arch in reference.archs]

    bench = make_benchmark(tmp_path / "b", tmp_path / "cache_b")
    calls = []
    original = ground_truth._Run.train_epoch

    def counted(self, epoch, seconds):
        calls.append((self.arch.canonical_hash, epoch))
        if len(calls) == 4:  # the second architecture's second epoch: a kill
            raise Interrupt
        return original(self, epoch, seconds)

    monkeypatch.setattr(ground_truth._Run, "train_epoch", counted)
    with pytest.raises(Interrupt):
        [bench.ground_truth.measure(arch) for arch in bench.archs]
    first, second, third = (a.canonical_hash for a in bench.archs)
    assert bench.ground_truth.cached(bench.archs[0]) is not None
    assert bench.ground_truth.cached(bench.archs[1]) is None

    calls.clear()
    found = [bench.ground_truth.measure(arch) for arch in bench.archs]
    # Nothing finished is trained again: the second continues at epoch 1, the third runs.
    assert calls == [(second, 1), (third, 0), (third, 1)]
    for got, want in zip(found, expected):
        assert got["test_accuracy"] == want["test_accuracy"]
        assert got["snapshots"].keys() == want["snapshots"].keys() == {"3", "30"}
        for k in want["snapshots"]:
            assert got["snapshots"][k]["val_accuracy"] == want["snapshots"][k]["val_accuracy"]
        assert got["final_loss"] == pytest.approx(want["final_loss"], rel=1e-6)
        assert 0 <= got["test_accuracy"] <= 1 and got["steps"] == 2 * 24


def test_snapshot_after_the_last_step_is_refused(tmp_path):
    with pytest.raises(GhnasError, match=r"SGD_STEPS \[49\] exceed the 48 steps"):
        make_benchmark(tmp_path, tmp_path / "cache", "CORRELATION.SGD_STEPS", [3, 49])


def test_cache_key_changes_with_the_built_network(tmp_path, monkeypatch):
    """A network the code builds differently (here: one BN less) never reuses a cached result."""
    from torch import nn

    bench = make_benchmark(tmp_path, tmp_path / "cache")
    arch = bench.archs[0]
    before = bench.ground_truth.key(arch)
    build = bench.ground_truth.space.build_network

    def without_stem_bn(a):
        network = build(a)
        network.stem.bn = nn.Identity()
        return network

    monkeypatch.setattr(bench.ground_truth.space, "build_network", without_stem_bn)
    assert bench.ground_truth.key(arch) != before


def test_a_kill_inside_a_checkpoint_write_resumes_to_the_same_result(tmp_path, monkeypatch):
    """The process dies halfway through writing an epoch checkpoint (half the bytes in the
    temporary file); the next run continues from the last whole checkpoint to the same records."""
    from ghnas.utils import checkpoint as checkpoint_module

    reference = make_benchmark(tmp_path / "a", tmp_path / "cache_a")
    expected = [reference.ground_truth.measure(arch) for arch in reference.archs[:2]]
    bench = make_benchmark(tmp_path / "b", tmp_path / "cache_b")
    saves, real = [], checkpoint_module.write_atomically

    def dies_in_the_fourth_save(path, data, write=None):
        saves.append(path)
        if len(saves) == 4:  # the second architecture's second epoch
            with open(f"{path}.tmp", "wb") as f:
                f.write(b"half a checkpoint")
            raise Interrupt
        return real(path, data, write)

    monkeypatch.setattr(checkpoint_module, "write_atomically", dies_in_the_fourth_save)
    with pytest.raises(Interrupt):
        [bench.ground_truth.measure(arch) for arch in bench.archs[:2]]
    monkeypatch.undo()
    found = [bench.ground_truth.measure(arch) for arch in bench.archs[:2]]
    for got, want in zip(found, expected):
        assert got["test_accuracy"] == want["test_accuracy"]
        assert got["final_loss"] == pytest.approx(want["final_loss"], rel=1e-6)


def test_another_ranks_failure_ends_this_rank_too_and_keeps_its_records(tmp_path, monkeypatch):
    """Rank 1 (simulated by the gather) stopped on a diverged run while this rank trained its
    share: this rank must raise the same line instead of going on to the next collective, and
    rank 1's finished record must land in this rank's cache."""
    bench = make_benchmark(tmp_path, tmp_path / "cache", "CORRELATION.EPOCHS", 1,
                           "CORRELATION.SGD_STEPS", [3])  # fmt: skip
    theirs = {"test_accuracy": 0.5, "train_seconds": 1.0, "snapshots": {}}
    other = bench.archs[2]

    def gather(local):
        return [local, ({other.canonical_hash: theirs}, "ground truth: training x diverged")]

    monkeypatch.setattr(ground_truth, "all_gather_object", gather)
    monkeypatch.setattr(ground_truth, "shard", lambda items: items[:2])  # this rank's share
    with pytest.raises(GhnasError, match="training x diverged"):
        ground_truth.measure_in_order(bench.ground_truth, bench.archs)
    assert all(bench.ground_truth.cached(a) is not None for a in bench.archs[:2])
    assert bench.ground_truth.cached(other) == theirs
