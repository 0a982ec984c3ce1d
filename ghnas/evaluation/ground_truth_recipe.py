"""The short SGD recipe of the correlation benchmark's ground truth, read from CORRELATION.*."""

import math
from dataclasses import dataclass
from typing import Tuple

from ghnas.utils.errors import GhnasError


@dataclass(frozen=True)
class TrainingRecipe:
    """The short SGD recipe that produces the ground truth and the SGD-k snapshots."""

    epochs: int
    base_lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    snapshot_steps: Tuple[int, ...] = ()

    @classmethod
    def from_config(cls, cfg) -> "TrainingRecipe":
        """The recipe of ``CORRELATION.*``."""
        c = cfg.CORRELATION
        recipe = cls(
            epochs=c.EPOCHS,
            base_lr=c.BASE_LR,
            momentum=c.MOMENTUM,
            weight_decay=c.WEIGHT_DECAY,
            batch_size=c.IMS_PER_BATCH,
            snapshot_steps=tuple(sorted(set(c.SGD_STEPS))),
        )
        for key, value in (("EPOCHS", c.EPOCHS), ("IMS_PER_BATCH", c.IMS_PER_BATCH)):
            if value < 1:
                raise GhnasError(f"CORRELATION.{key} must be >= 1, got {value}")
        if not c.BASE_LR > 0 or c.WEIGHT_DECAY < 0 or not 0 <= c.MOMENTUM < 1:
            raise GhnasError(
                "CORRELATION: need BASE_LR > 0, WEIGHT_DECAY >= 0 and 0 <= MOMENTUM < 1; got "
                f"{c.BASE_LR}, {c.WEIGHT_DECAY}, {c.MOMENTUM}"
            )
        if any(k < 1 for k in recipe.snapshot_steps):
            raise GhnasError(f"CORRELATION.SGD_STEPS must be >= 1, got {list(c.SGD_STEPS)}")
        return recipe

    def steps_per_epoch(self, num_train: int) -> int:
        """Updates per epoch over ``num_train`` images (the last batch wraps around)."""
        return math.ceil(num_train / self.batch_size)

    def check_snapshots(self, num_train: int) -> None:
        """Every SGD-k snapshot must fall inside the run."""
        total = self.epochs * self.steps_per_epoch(num_train)
        beyond = [k for k in self.snapshot_steps if k > total]
        if beyond:
            raise GhnasError(
                f"CORRELATION.SGD_STEPS {beyond} exceed the {total} steps of the ground-truth run "
                f"({self.epochs} epochs of {self.steps_per_epoch(num_train)}); lower them or "
                "raise CORRELATION.EPOCHS"
            )
