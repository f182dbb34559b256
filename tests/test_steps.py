"""Step counting follows sd-scripts: steps/epoch, epochs vs max_train_steps, warmup as steps/ratio/epochs."""

import pytest

from rundiff.normalise.steps import KOHYA_DEFAULT_MAX_TRAIN_STEPS, plan_steps


def test_seed_000_full_finetune_counts():
    plan = plan_steps(
        {"image_count": 512, "num_repeats": 1, "train_batch_size": 4, "max_train_epochs": 10, "lr_warmup_steps": 500}
    )
    assert (plan.steps_per_epoch, plan.num_epochs, plan.total_steps, plan.warmup_steps) == (128, 10, 1280, 500)
    assert plan.warmup_fraction == pytest.approx(500 / 1280)
    assert plan.warmup_epochs == pytest.approx(3.90625)
    assert "max_train_epochs 10 x 128" in plan.note("total_steps")


def test_reference_example_with_gradient_accumulation_and_ratio_warmup():
    # ablation notes §2.3: 20 images x 10 repeats, batch 4, GA 2, 10 epochs -> 25 updates/epoch, 250, warmup 25
    plan = plan_steps(
        {
            "image_count": 20,
            "num_repeats": 10,
            "train_batch_size": 4,
            "gradient_accumulation_steps": 2,
            "max_train_epochs": 10,
            "lr_warmup_steps": 0.1,
        }
    )
    assert (plan.steps_per_epoch, plan.total_steps, plan.warmup_steps) == (25, 250, 25)
    assert "ratio" in plan.note("warmup_steps")


def test_partial_batches_round_up():
    plan = plan_steps({"num_train_images": 2030, "train_batch_size": 4, "max_train_epochs": 10})
    assert plan.steps_per_epoch == 508  # ceil(2030 / 4)
    assert plan.total_steps == 5080
    odd = plan_steps({"num_train_images": 10, "train_batch_size": 4, "gradient_accumulation_steps": 2})
    assert odd.steps_per_epoch == 2  # ceil(ceil(10/4)=3 / 2)


def test_epochs_override_steps_and_default_1600():
    assert plan_steps({"steps_per_epoch": 100, "max_train_epochs": 3, "max_train_steps": 999}).total_steps == 300
    steps_only = plan_steps({"steps_per_epoch": 100, "max_train_steps": 250})
    assert (steps_only.total_steps, steps_only.num_epochs, steps_only.total_is_default) == (250, 3, False)
    default = plan_steps({"steps_per_epoch": 100})
    assert default.total_steps == KOHYA_DEFAULT_MAX_TRAIN_STEPS == 1600
    assert default.total_is_default and default.num_epochs == 16


def test_kohya_console_batches_per_epoch_are_exact():
    plan = plan_steps(
        {
            "num_batches_per_epoch": 51,
            "gradient_accumulation_steps": 2,
            "num_train_images": 200,
            "train_batch_size": 4,
            "max_train_epochs": 2,
        }
    )
    assert plan.steps_per_epoch == 26 and plan.total_steps == 52


def test_warmup_spellings():
    base = {"steps_per_epoch": 100, "max_train_steps": 1000}
    assert plan_steps({**base, "lr_warmup_steps": 50}).warmup_steps == 50
    assert plan_steps({**base, "lr_warmup_steps": 0.05}).warmup_steps == 50
    assert plan_steps({**base, "lr_warmup_steps": "10%"}).warmup_steps == 100
    assert plan_steps({**base, "lr_warmup_epochs": 1.5}).warmup_steps == 150
    assert plan_steps(base).warmup_steps == 0


def test_toml_float_warmup_is_a_ratio_like_sd_scripts():
    plan = plan_steps({"steps_per_epoch": 100, "max_train_steps": 1000, "lr_warmup_steps": 100.0})
    assert plan.warmup_steps == 100_000  # int(100.0 x 1000): sd-scripts' get_scheduler_fix
    assert plan.warmup_fraction == 100.0
    assert "float >= 1" in plan.note("warmup_steps")


def test_per_epoch_scheduler_counts_warmup_in_epochs():
    plan = plan_steps(
        {
            "num_train_images": 640,
            "train_batch_size": 16,
            "max_train_epochs": 30,
            "lr_warmup_steps": 6,
            "lr_scheduler_interval": "epoch",
        }
    )
    assert (plan.steps_per_epoch, plan.warmup_epochs, plan.warmup_steps) == (40, 6.0, 240)
    assert plan.interval == "epoch"


def test_unknown_dataset_size_leaves_epochs_unknown():
    plan = plan_steps({"max_train_steps": 800, "lr_warmup_steps": 0.1})
    assert plan.steps_per_epoch is None and plan.num_epochs is None
    assert (plan.total_steps, plan.warmup_steps) == (800, 80)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"train_batch_size": 0, "num_train_images": 10}, "train_batch_size"),
        ({"max_train_steps": "many"}, "max_train_steps"),
        ({"lr_warmup_steps": -5}, "lr_warmup_steps"),
        ({"lr_scheduler_interval": "hour"}, "lr_scheduler_interval"),
        ({"steps_per_epoch": 0.5, "max_train_steps": 100}, "steps_per_epoch"),  # C07: was a ZeroDivisionError
    ],
)
def test_unusable_values_are_left_out_with_a_note(params, key):
    plan = plan_steps(params)  # one bad value costs that value, never the run
    assert "ignored" in plan.note(key)


def test_a_length_beyond_any_run_is_unknown_not_the_default():
    plan = plan_steps({"max_train_steps": 10**12})
    assert plan.total_steps is None and not plan.total_is_default
    assert "ignored" in plan.note("max_train_steps")


def test_huge_datasets_and_ratios_are_not_planned():
    plan = plan_steps({"image_count": 10**9, "num_repeats": 10**9, "max_train_epochs": 2})
    assert plan.steps_per_epoch is None and "not planned" in plan.note("steps_per_epoch")
    plan = plan_steps({"max_train_steps": 100, "lr_warmup_steps": 1e300})  # a TOML float: a ratio of 1e300
    assert plan.total_steps == 100 and plan.warmup_steps is None and "not planned" in plan.note("warmup_steps")
    plan = plan_steps({"max_train_steps": 100, "image_count": 10, "lr_warmup_epochs": 1e308})
    assert plan.warmup_steps is None and "ignored" in plan.note("warmup_epochs")


def test_epochs_beyond_the_plan_limit_leave_the_length_unknown():
    plan = plan_steps({"max_train_epochs": 10**7, "image_count": 10})
    assert plan.num_epochs is None and plan.total_steps is None


@pytest.mark.parametrize(("batches", "expected"), [(37, 37), (None, 40)])
def test_compare_rows_count_an_epoch_from_the_trainers_own_batch_count_when_known(batches, expected):
    """ss_num_batches_per_epoch (buckets included) is exact: compare's derived steps_per_epoch uses it,
    as diagnose's step plan does; without it the epoch is images x repeats / batch."""
    from rundiff.model import Cell, Provenance
    from rundiff.normalise.derived import add_derived
    from rundiff.normalise.registry import load_registry

    known = {"num_train_images": 80, "train_batch_size": 2, "max_train_epochs": 3}
    if batches is not None:
        known["num_batches_per_epoch"] = batches
    cells = {name: Cell(value, Provenance.EXPLICIT, "meta", None) for name, value in known.items()}
    add_derived(cells, load_registry())
    assert cells["steps_per_epoch"].value == expected and cells["total_steps"].value == expected * 3
