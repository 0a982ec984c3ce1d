"""``anytime_final`` under two gloo ranks (``anytime_ddp_worker.py``) against one process.

The reference is an independent one-process loop that does what two data-parallel ranks
should: two copies of the network, each reading its rank's stream, rank 1 starting every step
from rank 0's buffers (DDP broadcasts them), the two gradients averaged, one SGD step at twice
the base rate (linear scaling). The ranks must end with its weights, split the steps of an
epoch between them, resume exactly, and report the accuracy one process measures.
"""

import copy
import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from anytime_ddp_worker import EPOCHS, anytime_cfg, recording_reads
from distributed_launch import WORLD_SIZE, launch

from ghnas.data import TrainBatchStream, build_dataset
from ghnas.data.train_streams import batch_seed
from ghnas.search_spaces import build_search_space
from ghnas.selection.anytime_auc import exit_records
from ghnas.trainers import build_trainer
from ghnas.trainers.anytime_final import anytime_lr_schedule
from ghnas.trainers.lr_schedules import epoch_lr
from ghnas.utils.file_io import append_jsonl_line, read_jsonl

WORKER = Path(__file__).with_name("anytime_ddp_worker.py")


def write_results(work: Path):
    cfg = anytime_cfg(work / "unused", work / "results.jsonl")
    arch = build_search_space(cfg, build_dataset(cfg).meta).sample(np.random.default_rng(1))
    row = {"arch": arch.to_dict(), "hash": arch.canonical_hash, "score": 0.5}
    append_jsonl_line(str(work / "results.jsonl"), row)


def exit_loss(network, stream):
    x, y = stream.next_batch()
    return torch.stack([F.cross_entropy(out, y) for out in network(x)]).mean()


def two_rank_reference(cfg):
    """Rank 0's weights after two data-parallel ranks train, computed in one process; and the
    indices each rank's stream reads."""
    splits = build_dataset(cfg)
    trainer = build_trainer(cfg, splits, "FINAL.TRAINER")  # one process: rank 0's net and stream
    nets = [trainer.network, copy.deepcopy(trainer.network)]
    streams = [trainer.stream, TrainBatchStream(
        dataset=splits.train, meta=splits.meta, batch_size=cfg.FINAL.IMS_PER_BATCH, device="cpu",
        crop_padding=cfg.INPUT.CROP_PADDING, horizontal_flip=cfg.INPUT.HORIZONTAL_FLIP,
        seed=batch_seed(cfg.SEED, 1))]  # fmt: skip
    optimizer = torch.optim.SGD(
        nets[0].parameters(), lr=WORLD_SIZE * cfg.FINAL.BASE_LR, momentum=cfg.FINAL.MOMENTUM,
        weight_decay=cfg.FINAL.WEIGHT_DECAY,
    )  # fmt: skip
    steps = math.ceil(len(splits.train) / (cfg.FINAL.IMS_PER_BATCH * WORLD_SIZE)) * EPOCHS
    reads = []
    for stream in streams:
        seen, record = recording_reads(TrainBatchStream._next_indices)
        stream._next_indices = functools.partial(record, stream)
        reads.append(seen)
    for _ in range(steps):
        nets[1].load_state_dict(nets[0].state_dict())
        for net, stream in zip(nets, streams):
            net.train()
            exit_loss(net, stream).backward()
        for p0, p1 in zip(nets[0].parameters(), nets[1].parameters()):
            p0.grad = (p0.grad + p1.grad) / WORLD_SIZE
        optimizer.step()
        for net in nets:
            net.zero_grad(set_to_none=True)
    return nets[0].state_dict(), [torch.cat(r) for r in reads], trainer


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("anytime_ddp")
    write_results(work)
    launch(WORKER, work, timeout=240)
    return work


def test_two_ranks_train_what_one_process_computes_for_them(work):
    ranks = [torch.load(work / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    reference, reads, _ = two_rank_reference(anytime_cfg(work / "ref", work / "results.jsonl"))
    for name, tensor in ranks[0]["full"].items():
        assert torch.equal(tensor, ranks[1]["full"][name]), name  # the ranks agree exactly
        assert torch.allclose(tensor.double(), reference[name].double(), rtol=1e-4, atol=1e-5), name
    for rank in range(WORLD_SIZE):  # each rank read its own stream, and only that
        assert torch.equal(ranks[rank]["read"], reads[rank]), rank
    assert not torch.equal(reads[0], reads[1])


def test_an_epoch_is_the_training_set_once_over_both_ranks(work):
    cfg = anytime_cfg(work / "unused", work / "results.jsonl")
    train_size = len(build_dataset(cfg).train)
    read = torch.load(work / "rank0.pt")["read"].numel() * WORLD_SIZE / EPOCHS
    assert train_size <= read < train_size + WORLD_SIZE * cfg.FINAL.IMS_PER_BATCH
    rows = [r for r in read_jsonl(str(work / "ddp" / "metrics.jsonl")) if r["phase"] == "final"]
    assert [r["iteration"] for r in rows] == [1, 2]  # rank 0 alone logs


def test_a_resumed_two_rank_run_continues_exactly(work):
    for rank in range(WORLD_SIZE):
        state = torch.load(work / f"rank{rank}.pt")
        for name, tensor in state["full"].items():
            assert torch.equal(tensor, state["split"][name]), (rank, name)
    saved = torch.load(work / "ddp" / "final" / "model_last.pth", weights_only=False)
    assert saved["rng"]["world_size"] == WORLD_SIZE and len(saved["rng"]["ranks"]) == WORLD_SIZE


def test_the_report_is_one_process_accuracy_of_the_saved_weights(work):
    """The ranks split the evaluation batches; the counts must add up to one process's."""
    cfg = anytime_cfg(work / "eval", work / "results.jsonl")
    trainer = build_trainer(cfg, build_dataset(cfg), "FINAL.TRAINER")
    saved = torch.load(work / "ddp" / "final" / "model_last.pth", weights_only=False)
    trainer.network.load_state_dict(saved["model"])
    trainer.network.eval()
    expected = exit_records(trainer.network, trainer.network, trainer.eval_batches)
    assert len(trainer.eval_batches) >= 3  # the ranks' shares differ in size
    report = json.loads((work / "ddp" / "final" / "results.json").read_text())
    assert report["exits"] == expected


def test_the_lr_scales_with_the_ranks_after_the_warm_up():
    cfg = anytime_cfg(Path("unused"), Path("unused"), "FINAL.WARMUP_EPOCHS", "-1",
                      "FINAL.EPOCHS", "20")  # fmt: skip
    one, two = anytime_lr_schedule(cfg, 1), anytime_lr_schedule(cfg, 2)
    base = cfg.FINAL.BASE_LR
    assert [epoch_lr(one, e, 20) for e in (0, 9, 10, 15)] == pytest.approx(
        [base, base, base / 10, base / 100]
    )
    # 5 warm-up epochs rising to 2 x base, then the step decay over the remaining 15 epochs
    assert [epoch_lr(two, e, 20) for e in (0, 4, 5, 12, 13, 17)] == pytest.approx(
        [2 * base / 6, 2 * base * 5 / 6, 2 * base, 2 * base, 2 * base / 10, 2 * base / 100]
    )
