"""The SGD recipe of the classification final trainers (appendix 7.3), read from FINAL.*."""

from dataclasses import dataclass

from fvcore.common.param_scheduler import ParamScheduler

from ghnas.trainers.lr_schedules import SCHEDULES, final_lr_schedule, resolve_warmup_epochs
from ghnas.utils.errors import GhnasError


@dataclass(frozen=True)
class ClassificationRecipe:
    """How one architecture is trained: SGD with momentum, an LR schedule per epoch,
    scheduled drop-path, an auxiliary head, crop/flip/cutout augmentation, precise BN.

    ``base_lr`` is the one-process rate; the peak is ``base_lr * world_size`` (linear scaling,
    each process reading ``batch_size`` images per step) reached after ``warmup_epochs``.
    """

    schedule: str
    base_lr: float
    lr_gamma: float
    momentum: float
    weight_decay: float
    batch_size: int
    warmup_epochs: int
    world_size: int
    drop_path_prob: float
    aux_weight: float
    cutout: int
    crop_padding: int
    horizontal_flip: bool
    precise_bn_batches: int
    num_workers: int = 0

    @classmethod
    def from_config(cls, cfg, *, schedule: str, world_size: int) -> "ClassificationRecipe":
        """The FINAL.* recipe with the ``schedule`` of the trainer ("cosine" or "exponential")
        for ``world_size`` processes.

        Raises:
            GhnasError: A FINAL key out of range (the line names it).
        """
        f = cfg.FINAL
        checks = [
            ("EPOCHS", f.EPOCHS >= 1, ">= 1"),
            ("IMS_PER_BATCH", f.IMS_PER_BATCH >= 1, ">= 1"),
            ("BASE_LR", f.BASE_LR > 0, "> 0"),
            ("MOMENTUM", 0 <= f.MOMENTUM < 1, "in [0, 1)"),
            ("WEIGHT_DECAY", f.WEIGHT_DECAY >= 0, ">= 0"),
            ("LR_GAMMA", 0 < f.LR_GAMMA <= 1, "in (0, 1]"),
            ("WARMUP_EPOCHS", f.WARMUP_EPOCHS >= -1, ">= 0, or -1 for the paper's"),
            ("DROP_PATH_PROB", 0 <= f.DROP_PATH_PROB < 1, "in [0, 1)"),
            ("AUX_WEIGHT", f.AUX_WEIGHT >= 0, ">= 0"),
            ("CUTOUT", f.CUTOUT >= 0, ">= 0"),
            ("PRECISE_BN_BATCHES", f.PRECISE_BN_BATCHES >= 0, ">= 0"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise GhnasError(f"FINAL.{key} must be {expected}, got {f[key]}")
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")
        if cfg.INPUT.CROP_PADDING < 0:
            raise GhnasError(f"INPUT.CROP_PADDING={cfg.INPUT.CROP_PADDING} must be >= 0")
        if cfg.DATALOADER.NUM_WORKERS < 0:
            raise GhnasError(f"DATALOADER.NUM_WORKERS={cfg.DATALOADER.NUM_WORKERS} must be >= 0")
        return cls(
            schedule=schedule,
            base_lr=f.BASE_LR,
            lr_gamma=f.LR_GAMMA,
            momentum=f.MOMENTUM,
            weight_decay=f.WEIGHT_DECAY,
            batch_size=f.IMS_PER_BATCH,
            warmup_epochs=resolve_warmup_epochs(f.WARMUP_EPOCHS, world_size),
            world_size=world_size,
            drop_path_prob=f.DROP_PATH_PROB,
            aux_weight=f.AUX_WEIGHT,
            cutout=f.CUTOUT,
            crop_padding=cfg.INPUT.CROP_PADDING,
            horizontal_flip=cfg.INPUT.HORIZONTAL_FLIP,
            precise_bn_batches=f.PRECISE_BN_BATCHES,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @property
    def peak_lr(self) -> float:
        """The rate after warm-up: linear in the number of processes."""
        return self.base_lr * self.world_size

    def warmup_for(self, epochs: int) -> int:
        """Warm-up epochs of a run of ``epochs``: at most ``epochs - 1`` (a short Top-Best run
        still reaches its peak)."""
        return min(self.warmup_epochs, epochs - 1)

    def lr_schedule(self, epochs: int) -> ParamScheduler:
        """The per-epoch learning rate of a run of ``epochs`` (see ``final_lr_schedule``)."""
        return final_lr_schedule(
            kind=self.schedule,
            peak_lr=self.peak_lr,
            epochs=epochs,
            gamma=self.lr_gamma,
            warmup_epochs=self.warmup_for(epochs),
        )

    def drop_path(self, epoch: int, epochs: int) -> float:
        """Drop-path probability of ``epoch`` (0-based): linear from 0, DARTS's schedule."""
        return self.drop_path_prob * epoch / epochs
