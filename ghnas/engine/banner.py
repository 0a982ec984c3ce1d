"""The one line each phase of ``tools/train_net.py`` starts with: what it will do, on what."""

from ghnas.ghn import build_ghn
from ghnas.search_spaces import build_search_space


def split_sizes(splits) -> str:
    """``train 800 / val 200 / test 1000 images`` (no test where the dataset has none)."""
    sizes = f"train {len(splits.train):,} / val {len(splits.val):,}"
    return sizes + (f" / test {len(splits.test):,}" if splits.test is not None else "") + " images"


def phase_banner(cfg, splits, phase: str) -> str:
    """What ``phase`` is about to do: its iterations or architectures, the GHN's size, the
    split sizes and the device."""
    if phase == "ghn":
        space = build_search_space(cfg, splits.meta, training=True)
        size = sum(p.numel() for p in build_ghn(cfg, space).parameters())
        what = (f"{cfg.SOLVER.MAX_ITER:,} iterations of {cfg.GHN.META_BATCH} architecture(s) "
                f"on {space.name}, GHN {size / 1e6:.3g}M parameters")  # fmt: skip
    elif phase == "search":
        images = min(cfg.SEARCH.EVAL_IMAGES, len(splits.val))
        what = (f"{cfg.SEARCH.NUM_ARCHS:,} architectures of {cfg.SEARCH_SPACE.NAME} by "
                f"{cfg.SEARCH.CRITERION} on {images:,} validation images")  # fmt: skip
    elif phase == "final":
        what = f"{cfg.FINAL.TRAINER} for {cfg.FINAL.EPOCHS} epochs"
    else:
        budget = f"{cfg.EXPORT.FLOP_BUDGET / 1e6:.4g}M FLOPs" if cfg.EXPORT.FLOP_BUDGET else "none"
        what = f"{cfg.EXPORT.WEIGHTS or 'final'} weights, budget {budget}"
    return f"phase {phase}: {what}; {split_sizes(splits)}; device {cfg.MODEL.DEVICE}"
