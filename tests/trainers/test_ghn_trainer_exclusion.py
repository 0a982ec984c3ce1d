"""Held-out architectures never reach GHN training; their draws are redrawn and counted."""

import numpy as np
from tiny_config import TINY_OVERRIDES

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.search_spaces import build_search_space
from ghnas.trainers.ghn_trainer import GHNTrainer


def test_excluded_hashes_are_redrawn_and_counted(tmp_path):
    cfg = get_cfg()
    # One op node reading both inputs: the space holds just the nine ops.
    cfg.merge_from_list(TINY_OVERRIDES + ["GHN.TRAIN_NUM_NODES", 1, "OUTPUT_DIR", str(tmp_path)])
    splits = build_dataset(cfg)
    space = build_search_space(cfg, splits.meta, training=True)
    rng = np.random.default_rng(0)
    every = {space.sample(rng).canonical_hash for _ in range(500)}
    assert len(every) == 9
    kept = sorted(every)[0]
    trainer = GHNTrainer.from_config(cfg, splits, excluded_hashes=every - {kept})
    drawn = {trainer.sample().canonical_hash for _ in range(40)}
    assert drawn == {kept}
    # About 8 of every 9 draws are held out; 40 kept draws need well over 100 draws.
    assert trainer.excluded_draws > 100
