"""The classification final trainers: one epoch each, Top-Best, drop-path, resume, the report.

Each test writes a tiny ``search/results.jsonl`` itself instead of running a search.
"""

import json
import logging
import os

import numpy as np
import pytest
import torch
from tiny_config import TINY_OVERRIDES
from torch.utils.data import Dataset

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.search_spaces import build_search_space
from ghnas.search_spaces.width_fitting import fit_width_to_budget
from ghnas.trainers import build_trainer
from ghnas.trainers.classification_final import ClassificationFinalTrainer
from ghnas.trainers.classification_run import ClassificationRun
from ghnas.trainers.epoch_checkpointer import EpochCheckpointer
from ghnas.trainers.searched import space_at_width
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import append_jsonl_line


def tiny_cfg(out, *extra):
    cfg = get_cfg()
    cfg.merge_from_list(
        [*TINY_OVERRIDES, "OUTPUT_DIR", str(out), "FINAL.TRAINER", "classification",
         "FINAL.EPOCHS", "1", "FINAL.IMS_PER_BATCH", "256", "FINAL.BASE_LR", "0.025",
         "FINAL.WEIGHT_DECAY", "3e-4", "FINAL.PRECISE_BN_BATCHES", "2", *extra]
    )  # fmt: skip
    return cfg


def write_results(cfg, splits, scores=(0.9, 0.8, 0.7)):
    """A results file of ``len(scores)`` distinct sampled blocks; returns the rows."""
    space = build_search_space(cfg, splits.meta)
    rng, rows, seen = np.random.default_rng(1), [], set()
    while len(rows) < len(scores):
        arch = space.sample(rng)
        if arch.canonical_hash not in seen:
            seen.add(arch.canonical_hash)
            rows.append({"arch": arch.to_dict(), "hash": arch.canonical_hash,
                         "score": scores[len(rows)], "params": 1, "flops": 1})  # fmt: skip
    path = f"{cfg.OUTPUT_DIR}/search/results.jsonl"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for row in rows:
        append_jsonl_line(path, row)
    return rows


def test_one_epoch_writes_the_report_and_an_exportable_checkpoint(tmp_path, caplog):
    cfg = tiny_cfg(tmp_path, "FINAL.INIT_CHANNELS", "6", "FINAL.CUTOUT", "4")
    splits = build_dataset(cfg)  # digits: no test split
    rows = write_results(cfg, splits)
    with caplog.at_level(logging.WARNING, logger="ghnas"):
        build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    assert "no test split" in caplog.text
    result = json.loads((tmp_path / "final" / "results.json").read_text())
    assert result["hash"] == rows[0]["hash"] and result["arch"] == rows[0]["arch"]
    assert result["space"] == "classification" and result["channels"] == 6
    assert result["epochs"] == 1 and result["trainer"] == "classification"
    assert 0 <= result["val_accuracy"] <= 1 and result["test_accuracy"] is None
    assert result["test_split"] is False and result["top_best"] is None
    checkpoint = torch.load(tmp_path / "final" / "model_final.pth")
    assert (checkpoint["hash"], checkpoint["channels"]) == (rows[0]["hash"], 6)
    # What export does: the plain network at that width takes the weights, head left out.
    wide = cfg.clone()
    wide.defrost()
    wide.MODEL.INIT_CHANNELS = 6
    space = build_search_space(wide, splits.meta)
    arch = space.architecture_from_dict(rows[0]["arch"])
    network = space.build_network(arch)
    loaded = network.load_state_dict(checkpoint["model"], strict=False)
    assert not loaded.missing_keys and loaded.unexpected_keys
    assert all(k.startswith("auxiliary_head.") for k in loaded.unexpected_keys)
    assert result["params"] == sum(p.numel() for p in network.parameters())
    assert result["flops"] == space.analytic_flops(arch)


def imagenet_cfg(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(2):
        folder = tmp_path / "images" / f"class{label}"
        folder.mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            pixels[..., label] = 255  # a learnable class cue
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return tiny_cfg(
        tmp_path / "out", "FINAL.TRAINER", "imagenet", "FINAL.BASE_LR", "0.1",
        "DATASETS.NAME", "image_folder", "DATASETS.ROOT", str(tmp_path / "images"),
        "DATASETS.VAL_SIZE", "8", "DATASETS.TEST_SIZE", "8", "INPUT.SIZE", "64",
        "SEARCH_SPACE.NAME", "imagenet_mobile", "FINAL.IMS_PER_BATCH", "8",
        "DATALOADER.NUM_WORKERS", "1",  # one worker process, as on a GPU machine but cheaper
    )  # fmt: skip


def test_imagenet_trainer_on_an_image_folder_fits_the_flop_budget(tmp_path):
    cfg = imagenet_cfg(tmp_path)
    cfg.merge_from_list(["EXPORT.FLOP_BUDGET", "2e6", "EXPORT.MIN_CHANNELS", "2"])
    splits = build_dataset(cfg)
    rows = write_results(cfg, splits, scores=(0.6,))
    build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    result = json.loads((tmp_path / "out" / "final" / "results.json").read_text())
    assert result["trainer"] == "imagenet" and result["hash"] == rows[0]["hash"]
    assert result["space"] == cfg.SEARCH_SPACE.NAME and result["test_split"] is True
    assert 0 <= result["test_accuracy"] <= 1 and result["recipe"]["schedule"] == "exponential"
    space_at = space_at_width(cfg, splits.meta)
    arch = space_at(1).architecture_from_dict(rows[0]["arch"])
    width, flops = fit_width_to_budget(space_at, arch, 2e6, minimum=2, what="block")
    assert (result["channels"], result["flops"]) == (width, flops) and flops <= 2e6
    assert space_at(width + 1).analytic_flops(arch) > 2e6  # the widest that fits


class Tripwire(Dataset):
    """A test split that must not be read."""

    def __len__(self):
        return 10

    def __getitem__(self, index):
        raise AssertionError("the test split was read")


def test_top_best_picks_the_best_validation_accuracy_and_never_reads_test(tmp_path):
    cfg = tiny_cfg(tmp_path, "FINAL.TOP_BEST_K", "2", "FINAL.TOP_BEST_EPOCHS", "1")
    splits = build_dataset(cfg)
    splits.test = Tripwire()
    rows = write_results(cfg, splits)
    trainer = build_trainer(cfg, splits, "FINAL.TRAINER")
    scored = []

    def accuracy(network, dataset):  # the search's second best does better after training
        assert dataset is splits.val
        scored.append(dataset)
        return [0.3, 0.7][len(scored) - 1]

    trainer.accuracy = accuracy
    chosen = trainer.select(resume=False)
    assert chosen["hash"] == rows[1]["hash"]
    assert [c["val_accuracy"] for c in trainer.candidates] == [0.3, 0.7]
    assert [c["hash"] for c in trainer.candidates] == [rows[0]["hash"], rows[1]["hash"]]
    record = tmp_path / "final" / "top_best" / f"2_{rows[1]['hash'][:12]}" / "result.json"
    assert json.loads(record.read_text())["val_accuracy"] == 0.7
    # Resuming reads the finished candidates' records instead of training them again.
    trainer.accuracy = None
    assert trainer.select(resume=True)["hash"] == rows[1]["hash"]


def test_drop_path_rises_linearly_over_the_epochs(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path, "FINAL.EPOCHS", "4", "FINAL.DROP_PATH_PROB", "0.4")
    splits = build_dataset(cfg)
    write_results(cfg, splits)
    seen = []

    def train_epoch(run):
        seen.append((run.network.drop_path_prob, run.optimizer.param_groups[0]["lr"]))
        return 0.0

    monkeypatch.setattr(ClassificationRun, "train_epoch", train_epoch)
    build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    assert [p for p, _ in seen] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    cosine = [0.5 * 0.025 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    assert [lr for _, lr in seen] == pytest.approx(cosine)


def test_resume_after_an_interruption_gives_the_uninterrupted_weights(tmp_path, monkeypatch):
    extra = ["FINAL.EPOCHS", "2", "FINAL.TOP_BEST_K", "2", "FINAL.TOP_BEST_EPOCHS", "1",
             "FINAL.CUTOUT", "3"]  # fmt: skip
    whole = tiny_cfg(tmp_path / "whole", *extra)
    splits = build_dataset(whole)
    write_results(whole, splits)
    build_trainer(whole, splits, "FINAL.TRAINER").train(resume=False)

    cut = tiny_cfg(tmp_path / "cut", *extra)
    write_results(cut, splits)
    save, saves = EpochCheckpointer.save, []

    def save_then_stop(self, epoch, **extra):
        save(self, epoch, **extra)
        saves.append(epoch)
        if len(saves) == 3:  # both candidates done, the final run after its first epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpointer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        build_trainer(cut, splits, "FINAL.TRAINER").train(resume=False)
    monkeypatch.setattr(EpochCheckpointer, "save", save)
    epochs = []
    monkeypatch.setattr(
        ClassificationRun, "train_epoch",
        lambda run, original=ClassificationRun.train_epoch: epochs.append(run.phase)
        or original(run),
    )  # fmt: skip
    build_trainer(cut, splits, "FINAL.TRAINER").train(resume=True)
    assert epochs == ["final"]  # one epoch left, no candidate trained again
    expected = torch.load(tmp_path / "whole" / "final" / "model_final.pth")["model"]
    resumed = torch.load(tmp_path / "cut" / "final" / "model_final.pth")["model"]
    assert expected.keys() == resumed.keys()
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)
    report = (tmp_path / "whole" / "final" / "results.json").read_text()
    assert (tmp_path / "cut" / "final" / "results.json").read_text() == report
    # Resuming a finished phase trains nothing and reports the same again.
    build_trainer(cut, splits, "FINAL.TRAINER").train(resume=True)
    assert epochs == ["final"]
    assert (tmp_path / "cut" / "final" / "results.json").read_text() == report


def test_resume_refuses_a_checkpoint_of_another_width(tmp_path):
    cfg = tiny_cfg(tmp_path)
    splits = build_dataset(cfg)
    write_results(cfg, splits)
    build_trainer(cfg, splits, "FINAL.TRAINER").train(resume=False)
    wider = tiny_cfg(tmp_path, "FINAL.INIT_CHANNELS", "5")
    with pytest.raises(GhnasError, match="at C=4.*at C=5.*another OUTPUT_DIR or --overwrite"):
        build_trainer(wider, splits, "FINAL.TRAINER").train(resume=True)


@pytest.mark.parametrize(
    "key, value",
    [("FINAL.DROP_PATH_PROB", "1.0"), ("FINAL.TOP_BEST_K", "0"), ("FINAL.WARMUP_EPOCHS", "-2"),
     ("FINAL.INIT_CHANNELS", "-1"), ("FINAL.CUTOUT", "-1")],
)  # fmt: skip
def test_bad_final_keys_are_named(tmp_path, key, value):
    cfg = tiny_cfg(tmp_path, key, value)
    splits = build_dataset(cfg)
    write_results(cfg, splits)
    with pytest.raises(GhnasError, match=key.replace(".", r"\.")):
        ClassificationFinalTrainer.from_config(
            cfg, splits, trainer_name="classification", schedule="cosine"
        )
