"""``Progress`` and its writers: a resumed phase drops and hides what it logs again, only the
main process writes files, and the memory columns say what they measure."""

import logging

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.summary.writer import event_file_writer

import ghnas.engine.progress as progress_module
from ghnas.engine.progress import Progress, memory_usage
from ghnas.utils.file_io import append_jsonl_line, read_jsonl


def event_scalars(folder, tag):
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def log_range(progress, iterations, loss_offset=0.0):
    for i in iterations:
        progress.log(i, loss=loss_offset + i, lr=0.5)


def test_a_resumed_phase_keeps_earlier_rows_and_rewrites_what_came_after_its_checkpoint(
    tmp_path, caplog
):
    metrics = str(tmp_path / "metrics.jsonl")
    append_jsonl_line(metrics, {"phase": "search", "iteration": 9})  # another phase's row stays
    # Killed after logging 7 of 10, resumed from the checkpoint at 5.
    log_range(Progress(phase="ghn", total=10, metrics_path=metrics), range(1, 8))
    with caplog.at_level(logging.INFO, logger="ghnas"):
        log_range(Progress(phase="ghn", total=10, done=5, metrics_path=metrics), range(6, 11), 100)
    rows = [r for r in read_jsonl(metrics) if r["phase"] == "ghn"]
    assert [(r["iteration"], r["loss"]) for r in rows] == [
        (i, i if i <= 5 else 100 + i) for i in range(1, 11)
    ]
    assert [r["phase"] for r in read_jsonl(metrics)].count("search") == 1
    # TensorBoard's reader hides the first file's 6 and 7: each iteration appears once.
    assert event_scalars(tmp_path / "events" / "ghn", "loss") == [
        (i, i if i <= 5 else 100 + i) for i in range(1, 11)
    ]
    assert "ghn [10/10]  loss: 110  lr: 0.5  max_rss_mb:" in caplog.text


def test_a_phase_resumed_in_the_same_second_is_still_read_in_order(tmp_path, monkeypatch):
    """Event files are named by second, then by a per-process counter: made in one second with
    counters 9 and 10, the second file's name would sort first."""
    monkeypatch.setattr(event_file_writer, "_global_uid", event_file_writer.AtomicCounter(9))
    metrics = str(tmp_path / "metrics.jsonl")
    log_range(Progress(phase="ghn", total=4, metrics_path=metrics), (1, 2, 3))
    log_range(Progress(phase="ghn", total=4, done=2, metrics_path=metrics), (3, 4), 100)
    expected = [(1, 1), (2, 2), (3, 103), (4, 104)]
    assert event_scalars(tmp_path / "events" / "ghn", "loss") == expected


def test_the_clock_of_a_resumed_phase_goes_on_from_its_last_row_kept(tmp_path):
    metrics = str(tmp_path / "metrics.jsonl")
    for iteration, elapsed in ((1, 50.0), (2, 100.0), (3, 150.0)):
        append_jsonl_line(metrics, {"phase": "ghn", "iteration": iteration, "elapsed_s": elapsed})
    Progress(phase="ghn", total=4, done=2, metrics_path=metrics).log(3, loss=1.0)
    assert 100 <= read_jsonl(metrics)[-1]["elapsed_s"] < 110


def test_rows_written_before_the_rename_are_dropped_on_resume(tmp_path):
    metrics = str(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3):
        append_jsonl_line(metrics, {"phase": "ghn", "step": step, "loss": 1.0})
    Progress(phase="ghn", total=4, done=2, metrics_path=metrics)
    assert [r["step"] for r in read_jsonl(metrics)] == [1, 2]


def test_only_the_main_process_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(progress_module, "is_main_process", lambda: False)
    metrics = tmp_path / "metrics.jsonl"
    log_range(Progress(phase="ghn", total=2, metrics_path=str(metrics)), (1, 2))
    assert not metrics.exists() and not (tmp_path / "events").exists()


def test_a_phase_that_logs_nothing_leaves_no_event_file(tmp_path):
    Progress(phase="search", total=3, done=3, metrics_path=str(tmp_path / "metrics.jsonl"))
    assert not (tmp_path / "events").exists()


def test_memory_is_the_resident_peak_and_the_cuda_peak_once_cuda_is_in_use(monkeypatch):
    usage = memory_usage()
    assert usage["max_rss_mb"] > 10  # torch alone is larger
    if not torch.cuda.is_initialized():
        assert "max_cuda_mb" not in usage
    # What a run on a GPU reports, without one: the allocator's peak on the current device.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *device: 3 * 2**20)
    assert memory_usage()["max_cuda_mb"] == 3.0


@pytest.mark.parametrize("phase, folder", [("top-best 2", "top-best_2"), ("final", "final")])
def test_each_phase_has_its_own_event_folder(tmp_path, phase, folder):
    metrics = str(tmp_path / "metrics.jsonl")
    Progress(phase=phase, total=1, metrics_path=metrics).log(1, loss=0.25)
    assert event_scalars(tmp_path / "events" / folder, "loss") == [(1, 0.25)]
