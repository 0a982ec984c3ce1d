"""GHN.EMA_DECAY: the trainer keeps a moving average of the GHN's parameters, checkpoints it,
resumes it, and the scorers load it."""

import pytest
import torch
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights
from ghnas.search_spaces import build_search_space
from ghnas.trainers.ghn_trainer import GHNTrainer
from ghnas.utils.errors import GhnasError

DECAY = 0.5


def tiny_cfg(tmp_path, *extra):
    cfg = get_cfg()
    cfg.merge_from_list(TINY_OVERRIDES + ["OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", 6,
                                          "SOLVER.CHECKPOINT_PERIOD", 3, *extra])  # fmt: skip
    return cfg


def snapshots_while_training(cfg, splits, resume=False):
    """Train, recording the GHN's parameters after every step."""
    trainer = GHNTrainer.from_config(cfg, splits)
    seen, step = [], trainer.step

    def recording_step(iteration):
        value = step(iteration)
        seen.append({k: v.detach().clone() for k, v in trainer.ghn.state_dict().items()})
        return value

    trainer.step = recording_step
    trainer.train(resume=resume)
    return trainer, seen


def test_the_average_is_the_hand_computed_one_and_the_scorers_load_it(tmp_path):
    cfg = tiny_cfg(tmp_path, "GHN.EMA_DECAY", DECAY)
    splits = build_dataset(cfg)
    trainer, seen = snapshots_while_training(cfg, splits)
    # First update copies; then ema = decay * ema + (1 - decay) * parameters.
    expected = dict(seen[0])
    for state in seen[1:]:
        expected = {k: DECAY * expected[k] + (1 - DECAY) * state[k] for k in expected}
    space = build_search_space(cfg, splits.meta)
    ghn = build_ghn(cfg, space)
    load_ghn_weights(ghn, final_checkpoint_path(cfg.OUTPUT_DIR), cfg, space)
    for name, value in ghn.state_dict().items():
        torch.testing.assert_close(value, expected[name])
    changed = [k for k in expected if not torch.allclose(expected[k], seen[-1][k])]
    assert changed, "the average equals the last parameters: nothing was averaged"


def test_a_resumed_run_continues_the_average(tmp_path):
    """Cut after 3 of 6 steps and resumed: the same average as the run without a cut."""
    cfg = tiny_cfg(tmp_path / "whole", "GHN.EMA_DECAY", DECAY)
    splits = build_dataset(cfg)
    whole, _ = snapshots_while_training(cfg, splits)
    first = tiny_cfg(tmp_path / "parts", "GHN.EMA_DECAY", DECAY, "SOLVER.MAX_ITER", 3)
    snapshots_while_training(first, splits)
    resumed, _ = snapshots_while_training(
        tiny_cfg(tmp_path / "parts", "GHN.EMA_DECAY", DECAY), splits, resume=True
    )
    assert int(resumed.ema.n_averaged) == 6
    for (name, a), b in zip(whole.ema.state_dict().items(), resumed.ema.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_decay_out_of_range_is_one_line(tmp_path):
    cfg = tiny_cfg(tmp_path, "GHN.EMA_DECAY", 1.0)
    with pytest.raises(GhnasError, match=r"GHN.EMA_DECAY must be in \[0, 1\)"):
        GHNTrainer.from_config(cfg, build_dataset(cfg))
