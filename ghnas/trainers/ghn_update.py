"""How the GHN trainer moves the weight generator's parameters.

Adam on a step-decay learning rate (``SOLVER.LR_DECAY_FACTOR`` at each of
``SOLVER.LR_DECAY_POINTS``), gradients averaged over ranks, clipped to ``SOLVER.CLIP_GRAD_NORM``
and checked before every step, and, with ``GHN.EMA_DECAY``, a moving average of the parameters
that the scorers load instead of the last ones.
"""

import math

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ghnas.engine.distributed import average_gradients
from ghnas.trainers.lr_schedules import step_decay_schedule
from ghnas.utils.errors import GhnasError


class GHNUpdate:
    """Adam, its learning-rate schedule, gradient clipping and the moving average of ``ghn``."""

    def __init__(
        self,
        ghn,
        *,
        base_lr: float,
        lr_decay_points,
        lr_decay_factor: float,
        max_iter: int,
        clip_grad_norm: float,
        ema_decay: float = 0.0,
        phase: str = "ghn",
    ) -> None:
        # The average the scorers load (GHN.EMA_DECAY), kept beside the trained GHN.
        self.ema = (
            AveragedModel(ghn, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
            if ema_decay > 0
            else None
        )
        self.optimizer = torch.optim.Adam(ghn.parameters(), lr=base_lr)
        # Constant when there are too few iterations to place the decay points (smoke runs).
        self.lr_schedule = step_decay_schedule(
            base_lr, lr_decay_factor, lr_decay_points, max_iter, phase=phase, unit="iterations"
        )
        self.ghn, self.max_iter, self.phase = ghn, max_iter, phase
        self.clip_grad_norm = clip_grad_norm

    def set_lr(self, iteration: int) -> float:
        """Set (and return) the learning rate of ``iteration``."""
        lr = self.lr_schedule(iteration / self.max_iter)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def apply(self, loss: torch.Tensor, value: float, iteration: int) -> None:
        """Back-propagate ``loss`` (its mean over ranks is ``value``) and take one Adam step.

        Raises:
            GhnasError: The loss or the gradient norm is not finite (training diverged).
        """
        if not math.isfinite(value):
            raise GhnasError(
                f"{self.phase} training diverged: loss is {value} at iteration {iteration}; lower "
                "SOLVER.BASE_LR or SOLVER.CLIP_GRAD_NORM (no checkpoint was written for it)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.ghn.parameters())  # identical on every rank from here on
        max_norm = self.clip_grad_norm if self.clip_grad_norm > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(self.ghn.parameters(), max_norm))
        if not math.isfinite(norm):
            raise GhnasError(
                f"{self.phase} training diverged: gradient norm is {norm} at iteration {iteration} "
                f"(loss {value:.4g}); lower SOLVER.BASE_LR (no checkpoint was written for it)"
            )
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.ghn)
