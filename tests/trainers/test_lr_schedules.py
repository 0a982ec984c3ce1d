"""The final trainers' learning rates against hand-computed references (appendix 7.3)."""

import math

import pytest

from ghnas.config import get_cfg
from ghnas.trainers.classification_recipe import ClassificationRecipe
from ghnas.trainers.lr_schedules import epoch_lr, final_lr_schedule


def rates(schedule, epochs, at):
    return [epoch_lr(schedule, e, epochs) for e in at]


def test_cosine_is_one_period_from_the_peak_to_zero():
    schedule = final_lr_schedule(kind="cosine", peak_lr=0.025, epochs=600)
    at = [0, 1, 150, 300, 450, 599]
    expected = [0.0125 * (1 + math.cos(math.pi * e / 600)) for e in at]
    assert rates(schedule, 600, at) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert rates(schedule, 600, [0, 300]) == pytest.approx([0.025, 0.0125])


def test_exponential_is_0_1_times_0_97_per_epoch():
    schedule = final_lr_schedule(kind="exponential", peak_lr=0.1, epochs=250, gamma=0.97)
    at = [0, 1, 2, 10, 100, 249]
    assert rates(schedule, 250, at) == pytest.approx([0.1 * 0.97**e for e in at], rel=1e-12)


def test_warmup_rises_linearly_to_the_scaled_peak_then_the_schedule_runs_its_course():
    peak = 0.025 * 32  # the paper's 32 processes
    schedule = final_lr_schedule(kind="cosine", peak_lr=peak, epochs=25, warmup_epochs=5)
    assert rates(schedule, 25, range(5)) == pytest.approx([peak * (e + 1) / 6 for e in range(5)])
    after = [peak / 2 * (1 + math.cos(math.pi * (e - 5) / 20)) for e in (5, 6, 15, 24)]
    assert rates(schedule, 25, (5, 6, 15, 24)) == pytest.approx(after)
    exponential = final_lr_schedule(
        kind="exponential", peak_lr=0.4, epochs=12, gamma=0.97, warmup_epochs=2
    )
    assert rates(exponential, 12, [0, 1, 2, 3, 11]) == pytest.approx(
        [0.4 / 3, 0.8 / 3, 0.4, 0.4 * 0.97, 0.4 * 0.97**9]
    )


@pytest.mark.parametrize("world, warmup, peak", [(1, 0, 0.025), (4, 5, 0.1)])
def test_the_paper_warmup_and_linear_scaling_apply_with_several_processes(world, warmup, peak):
    recipe = ClassificationRecipe.from_config(get_cfg(), schedule="cosine", world_size=world)
    assert recipe.warmup_epochs == warmup
    cfg = get_cfg()
    cfg.merge_from_list(["FINAL.BASE_LR", "0.025"])
    recipe = ClassificationRecipe.from_config(cfg, schedule="cosine", world_size=world)
    assert recipe.peak_lr == pytest.approx(peak)
    assert recipe.warmup_for(3) == min(warmup, 2)  # a short Top-Best run still peaks
    cfg.merge_from_list(["FINAL.WARMUP_EPOCHS", "2"])  # configured: also on one process
    assert ClassificationRecipe.from_config(cfg, schedule="cosine", world_size=1).warmup_epochs == 2
