"""Every trainer logs through ``Progress``: ``metrics.jsonl`` rows with the iteration, wall time
and memory, and TensorBoard event files (read back with TensorBoard's own reader) holding the
same scalars at the same iterations. A resumed run appends to both."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_classification_final import tiny_cfg as final_cfg
from test_classification_final import write_results
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.search_spaces import build_search_space
from ghnas.trainers import build_trainer
from ghnas.trainers.ghn_trainer import GHNTrainer
from ghnas.utils.file_io import append_jsonl_line, read_jsonl


def logged_rows(out, phase):
    """The rows of ``phase`` in ``out/metrics.jsonl``, each checked for time and memory."""
    rows = [r for r in read_jsonl(str(out / "metrics.jsonl")) if r["phase"] == phase]
    for row in rows:
        assert row["max_rss_mb"] > 0 and row["elapsed_s"] >= 0
        assert abs(row["timestamp"] - time.time()) < 600
    elapsed = [r["elapsed_s"] for r in rows]
    assert elapsed == sorted(elapsed)
    return rows


def assert_events_match(folder, rows, tags):
    """TensorBoard's reader finds, for every tag, the rows' values at the rows' iterations."""
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    assert set(tags) <= set(accumulator.Tags()["scalars"])
    for tag in tags:
        events = accumulator.Scalars(tag)
        assert [e.step for e in events] == [r["iteration"] for r in rows], tag
        assert [e.value for e in events] == pytest.approx([r[tag] for r in rows], rel=1e-6)


def ghn_cfg(out, max_iter):
    cfg = get_cfg()
    cfg.merge_from_list(
        [*TINY_OVERRIDES, "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", max_iter,
         "SOLVER.CHECKPOINT_PERIOD", 2, "SOLVER.LOG_PERIOD", 2]
    )  # fmt: skip
    return cfg


def test_ghn_training_logs_rows_and_events_and_a_resumed_run_appends(tmp_path):
    cfg = ghn_cfg(tmp_path, 4)
    splits = build_dataset(cfg)
    GHNTrainer.from_config(cfg, splits).train(resume=False)
    first = logged_rows(tmp_path, "ghn")
    assert [r["iteration"] for r in first] == [2, 4]
    GHNTrainer.from_config(ghn_cfg(tmp_path, 6), splits).train(resume=True)
    rows = logged_rows(tmp_path, "ghn")
    assert rows[:2] == first and [r["iteration"] for r in rows] == [2, 4, 6]
    assert_events_match(tmp_path / "events" / "ghn", rows, ("loss", "lr", "archs_per_s"))


def test_classification_final_logs_every_epoch(tmp_path):
    cfg = final_cfg(tmp_path, "FINAL.EPOCHS", "2", "FINAL.PRECISE_BN_BATCHES", "0")
    splits = build_dataset(cfg)
    write_results(cfg, splits, scores=(0.9,))
    build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    rows = logged_rows(tmp_path, "final")
    assert [r["iteration"] for r in rows] == [1, 2]
    assert_events_match(tmp_path / "events" / "final", rows, ("loss", "lr", "drop_path"))


def anytime_cfg(out):
    cfg = get_cfg()
    cfg.merge_from_list(
        ["OUTPUT_DIR", str(out), "SEARCH_SPACE.NAME", "anytime", "DATASETS.NAME", "digits",
         "DATASETS.VAL_SIZE", "200", "INPUT.SIZE", "8", "INPUT.HORIZONTAL_FLIP", "False",
         "MODEL.INIT_CHANNELS", "4", "ANYTIME.BLOCK_NODES", "[3, 2, 2]", "ANYTIME.NUM_EXITS", "2",
         "ANYTIME.FLOP_BUDGET", "2e5", "SEARCH.CRITERION", "anytime_auc",
         "SEARCH.EVAL_BATCH_SIZE", "200", "FINAL.TRAINER", "anytime_final", "FINAL.EPOCHS", "2",
         "FINAL.IMS_PER_BATCH", "256"]
    )  # fmt: skip
    return cfg


def write_anytime_results(cfg, splits):
    """A results file holding one sampled anytime architecture (no search run)."""
    arch = build_search_space(cfg, splits.meta).sample(np.random.default_rng(0))
    path = Path(cfg.OUTPUT_DIR) / "search" / "results.jsonl"
    path.parent.mkdir(parents=True)
    # The header line results files began with; the store reads files with or without one.
    append_jsonl_line(str(path), {"schema_version": 1, "space": "anytime"})
    row = {"arch": arch.to_dict(), "hash": arch.canonical_hash, "score": 0.5}
    append_jsonl_line(str(path), row)


def test_anytime_final_writes_metrics_and_events(tmp_path):
    cfg = anytime_cfg(tmp_path)
    splits = build_dataset(cfg)
    write_anytime_results(cfg, splits)
    build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    rows = logged_rows(tmp_path, "final")
    assert [r["iteration"] for r in rows] == [1, 2]
    assert_events_match(tmp_path / "events" / "final", rows, ("loss", "lr", "max_rss_mb"))
    assert json.loads((tmp_path / "final" / "results.json").read_text())["auc"] >= 0
