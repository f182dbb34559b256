"""The simulated LR matches transformers' get_scheduler (closed forms and measured values) and the EMA mix."""

import math

import pytest

from rundiff.diagnose.ema import ema_new_fraction, steps_to_fraction
from rundiff.diagnose.schedule import POLYNOMIAL_LR_END, LRSchedule, lr_multiplier, simulate_schedule
from rundiff.normalise.steps import plan_steps


def _schedule(scheduler, total, warmup, base=1.0, **kw):
    plan = plan_steps({"steps_per_epoch": total, "max_train_steps": total, "lr_warmup_steps": warmup})
    return simulate_schedule({"lr_scheduler": scheduler, **kw}, plan, base)


# ablation notes §2.2, measured with transformers (W=3, N=10): LR used by updates 0..10
MEASURED = {
    "constant_with_warmup": [0, 0.333, 0.667, 1, 1, 1, 1, 1, 1, 1, 1],
    "linear": [0, 0.333, 0.667, 1, 0.857, 0.714, 0.571, 0.429, 0.286, 0.143, 0],
    "cosine_with_restarts": [0, 0.333, 0.667, 1, 0.812, 0.389, 0.050, 0.951, 0.611, 0.188, 0],
}


@pytest.mark.parametrize("scheduler", sorted(MEASURED))
def test_matches_values_measured_with_transformers(scheduler):
    cycles = {"lr_scheduler_num_cycles": 2} if scheduler == "cosine_with_restarts" else {}
    schedule = _schedule(scheduler, 10, 3, **cycles)
    assert [schedule.lr(k) for k in range(11)] == pytest.approx(MEASURED[scheduler], abs=1.5e-3)


def test_lr_is_exactly_zero_for_the_first_update_only():
    schedule = _schedule("cosine", 1000, 100, base=1e-4)
    assert schedule.lr(0) == 0.0
    assert schedule.lr(1) == pytest.approx(1e-4 / 100)
    assert schedule.leading_zero_updates() == 1
    assert schedule.lr(100) == pytest.approx(1e-4)


def test_cosine_closed_form_and_num_cycles_ignored():
    schedule = _schedule("cosine", 1000, 100, base=2e-4, lr_scheduler_num_cycles=5)
    for k in (100, 325, 550, 999):
        progress = (k - 100) / 900
        assert schedule.lr(k) == pytest.approx(2e-4 * 0.5 * (1 + math.cos(math.pi * progress)), rel=1e-12)


def test_polynomial_with_power_ends_at_lr_end():
    schedule = _schedule("polynomial", 100, 10, base=1e-3, lr_scheduler_power=2.0)
    for k in (10, 40, 99):
        remaining = 1 - (k - 10) / 90
        assert schedule.lr(k) == pytest.approx((1e-3 - POLYNOMIAL_LR_END) * remaining**2 + POLYNOMIAL_LR_END)
    assert schedule.lr(100) == pytest.approx(POLYNOMIAL_LR_END)


def test_constant_ignores_warmup_like_transformers():
    assert lr_multiplier("constant", 0, warmup=100, total=1000) == 1.0


def test_per_epoch_stepping_keeps_lr_zero_for_the_whole_first_epoch():
    plan = plan_steps(
        {"steps_per_epoch": 40, "max_train_epochs": 30, "lr_warmup_steps": 6, "lr_scheduler_interval": "epoch"}
    )
    schedule = LRSchedule("constant_with_warmup", 5e-5, plan)
    assert {schedule.lr(k) for k in range(40)} == {0.0}
    assert schedule.lr(40) == pytest.approx(5e-5 / 6)  # epoch 2: 8.33e-06, as field report 003 logged
    assert schedule.lr(79) == schedule.lr(40)
    assert schedule.lr(80) == pytest.approx(2 * 5e-5 / 6)  # epoch 3: 1.67e-05
    assert schedule.leading_zero_updates() == 40
    assert schedule.leading_zero_epochs() == 1.0


def test_warmup_longer_than_training_never_reaches_target():
    plan = plan_steps({"steps_per_epoch": 100, "max_train_steps": 1000, "lr_warmup_steps": 100.0})
    schedule = LRSchedule("constant_with_warmup", 1e-4, plan)
    assert schedule.peak_lr() == pytest.approx(1e-4 * 999 / 100_000)
    assert schedule.first_update_at_full_lr() is None


def _library_get_scheduler():
    """transformers' or diffusers' get_scheduler, whichever is importable (both are the ablate extra)."""
    import importlib.util

    for module in ("transformers", "diffusers.optimization"):
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            return importlib.import_module(module).get_scheduler, module
    pytest.skip("neither transformers nor diffusers is installed (they come with the ablate extra)")


def test_against_library_get_scheduler():
    get_scheduler, module = _library_get_scheduler()
    torch = pytest.importorskip("torch")
    for name, cycles, power in (
        ("linear", 1, 1.0),
        ("cosine", 1, 1.0),
        ("cosine_with_restarts", 3, 1.0),
        ("polynomial", 1, 2.0),
        ("constant_with_warmup", 1, 1.0),
    ):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
        if module == "transformers":
            extra = {"num_cycles": cycles} if name == "cosine_with_restarts" else {}
            if name == "polynomial":
                extra = {"power": power}
            scheduler = get_scheduler(
                name, optimizer, num_warmup_steps=20, num_training_steps=200, scheduler_specific_kwargs=extra
            )
        else:
            scheduler = get_scheduler(
                name, optimizer, num_warmup_steps=20, num_training_steps=200, num_cycles=cycles, power=power
            )
        ours = _schedule(name, 200, 20, base=1e-4, lr_scheduler_num_cycles=cycles, lr_scheduler_power=power)
        for k in range(200):
            assert optimizer.param_groups[0]["lr"] == pytest.approx(ours.lr(k), rel=1e-9, abs=1e-15), (name, k)
            optimizer.step()
            scheduler.step()


def test_ema_mix_numbers_of_field_report_000():
    assert ema_new_fraction(0.9999, 128) == pytest.approx(0.0127, abs=5e-5)
    assert ema_new_fraction(0.9999, 500) == pytest.approx(0.0488, abs=5e-5)
    assert ema_new_fraction(0.9999, 1000) == pytest.approx(0.0952, abs=5e-5)
    assert ema_new_fraction(0.999, 128) == pytest.approx(0.12, abs=5e-3)
    assert ema_new_fraction(0.999, 5000) == pytest.approx(0.993, abs=1e-3)  # ablation notes §4 table
    assert steps_to_fraction(0.999) == 693
    assert ema_new_fraction(0.999, 693) >= 0.5 > ema_new_fraction(0.999, 692)


def test_polynomial_schedules_transformers_refuses_are_not_simulated():
    """get_polynomial_decay_schedule_with_warmup raises unless lr > lr_end; a negative power divides 0 by itself
    at the last step (0 ** -1). Neither is simulated (C57, C58), and the reason is given."""
    from rundiff.diagnose.schedule import not_simulated_because

    assert _schedule("polynomial", 100, 0, base=0.0) is None
    assert "refuses" in not_simulated_because({"lr_scheduler": "polynomial"}, 0.0)
    assert _schedule("polynomial", 100, 0, base=1e-4, lr_scheduler_power=-1) is None
    assert "negative" in not_simulated_because({"lr_scheduler": "polynomial", "lr_scheduler_power": -1}, 1e-4)
    assert _schedule("polynomial", 100, 0, base=1e-4, lr_scheduler_power=2) is not None


def test_odd_cycle_and_power_values_fall_back_to_transformers_defaults():
    schedule = _schedule("cosine_with_restarts", 10, 0, lr_scheduler_num_cycles=float("inf"), lr_scheduler_power="bf16")
    assert schedule.num_cycles == 1 and schedule.power == 1.0
