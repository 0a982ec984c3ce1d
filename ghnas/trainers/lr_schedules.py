"""Learning-rate schedules of the final trainers: fvcore param schedulers over epochs.

A schedule maps ``where = epoch / epochs`` to the learning rate of that whole epoch: the rate
changes once per epoch, as in the NASNet/DARTS recipes the paper follows (appendix 7.3). The GHN
trainer uses the same step decay over iterations.
"""

import logging
from typing import Sequence

from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    CosineParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
    StepWithFixedGammaParamScheduler,
)

logger = logging.getLogger("ghnas")

# Main schedules of ``final_lr_schedule``: the CIFAR-10 recipe and the ImageNet-mobile one.
SCHEDULES = ("cosine", "exponential")

# The paper's warm-up of its 32-GPU runs, used by FINAL.WARMUP_EPOCHS = -1 with several processes.
PAPER_WARMUP_EPOCHS = 5


def resolve_warmup_epochs(setting: int, world_size: int) -> int:
    """FINAL.WARMUP_EPOCHS as epochs: -1 is the paper's (5 with several processes, none with
    one); any other value is itself."""
    if setting == -1:
        return PAPER_WARMUP_EPOCHS if world_size > 1 else 0
    return setting


def epoch_lr(schedule: ParamScheduler, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based) in a run of ``epochs``."""
    return schedule(epoch / epochs)


def step_decay_schedule(
    base_lr: float,
    factor: float,
    points: Sequence[float],
    epochs: int,
    phase: str = "final",
    unit: str = "epochs",
) -> ParamScheduler:
    """``base_lr`` multiplied by ``factor`` at each fraction of ``epochs`` in ``points`` (the
    anytime recipe and the GHN's: x0.1 / x0.5 at 50% and 75%); constant when the run is too short
    to place them. ``unit`` names what ``epochs`` counts in the log line (the GHN counts
    iterations)."""
    values = [base_lr * factor**i for i in range(len(points) + 1)]
    milestones = [int(round(p * epochs)) for p in points]
    bounds = [0] + milestones + [epochs]
    if epochs <= len(values) or any(a >= b for a, b in zip(bounds, bounds[1:])):
        logger.info(f"{phase}: {epochs} {unit} are too few for LR decay; constant LR")
        return ConstantParamScheduler(base_lr)
    return MultiStepParamScheduler(values, num_updates=epochs, milestones=milestones)


def final_lr_schedule(
    *, kind: str, peak_lr: float, epochs: int, gamma: float = 1.0, warmup_epochs: int = 0
) -> ParamScheduler:
    """The schedule of a classification final run.

    Args:
        kind: "cosine": one cosine period from ``peak_lr`` to 0 (CIFAR-10); "exponential":
            ``peak_lr * gamma**e`` in epoch ``e`` (ImageNet mobile: 0.1 x 0.97 every epoch),
            fvcore's ``StepWithFixedGammaParamScheduler``, whose values are one multiplication
            per epoch, so they are exactly those powers (``ExponentialParamScheduler`` would
            interpolate ``decay**where`` instead).
        peak_lr: The rate after warm-up (already scaled with the number of processes).
        epochs: Epochs of the run.
        gamma: Factor per epoch of "exponential".
        warmup_epochs: W: the rate first rises linearly, ``peak_lr * (e + 1) / (W + 1)`` in epoch
            ``e < W``, so no epoch trains at rate 0; the main schedule then runs its whole course
            over the remaining ``epochs - W`` epochs. Must be below ``epochs``.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; expected one of {SCHEDULES}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"need 0 <= warmup_epochs < epochs, got {warmup_epochs} and {epochs}")
    main_epochs = epochs - warmup_epochs
    if kind == "cosine":
        main: ParamScheduler = CosineParamScheduler(peak_lr, 0.0)
    elif main_epochs >= 2:
        main = StepWithFixedGammaParamScheduler(
            base_value=peak_lr, num_decays=main_epochs - 1, gamma=gamma, num_updates=main_epochs
        )
    else:  # fvcore needs at least one decay; one epoch has the peak rate only
        main = ConstantParamScheduler(peak_lr)
    return with_warmup(main, peak_lr=peak_lr, epochs=epochs, warmup_epochs=warmup_epochs)


def with_warmup(
    main: ParamScheduler, *, peak_lr: float, epochs: int, warmup_epochs: int
) -> ParamScheduler:
    """``main`` after ``warmup_epochs`` of a linear rise to ``peak_lr`` (see
    ``final_lr_schedule``); ``main`` then runs its whole course over the remaining epochs."""
    if warmup_epochs == 0:
        return main
    warmup = LinearParamScheduler(peak_lr / (warmup_epochs + 1), peak_lr)
    share = warmup_epochs / epochs
    return CompositeParamScheduler(
        [warmup, main], lengths=[share, 1.0 - share], interval_scaling=["rescaled", "rescaled"]
    )
