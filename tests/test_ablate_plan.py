"""Planning an ablation: every override checked against the registry before anything runs."""

import textwrap

import pytest

from rundiff import load_run
from rundiff.ablate.plan import plan_ablation
from rundiff.errors import RundiffError


@pytest.fixture
def base(tmp_path):
    run = tmp_path / "base"
    run.mkdir()
    (run / "train.sh").write_text(
        textwrap.dedent("""
        accelerate launch train_network.py --network_module=networks.lora --network_dim=32 --network_alpha=16 \\
          --learning_rate=1e-4 --optimizer_type=AdamW8bit --lr_scheduler=cosine --resolution=512 --seed=42
        """)
    )
    return load_run(run)


def test_values_are_typed_and_the_base_value_is_included(base):
    plan = plan_ablation(base, ["network_dim"], values=["16", "64"], steps=50)
    assert [v.name for v in plan.variants] == ["network_dim=32", "network_dim=16", "network_dim=64"]
    assert [v.overrides["network_dim"] for v in plan.variants] == [32, 16, 64]
    assert plan.variants[0].is_base_value and not plan.variants[1].is_base_value
    assert plan.steps == 50


def test_unknown_name_lists_the_closest_names(base):
    with pytest.raises(RundiffError) as info:
        plan_ablation(base, ["network_dimm"], values=["8", "16"])
    assert "network_dim" in str(info.value) and "did you mean" in str(info.value)


def test_wrong_type_is_an_error_before_anything_runs(base):
    with pytest.raises(RundiffError) as info:
        plan_ablation(base, ["network_dim"], values=["8", "big"])
    assert "network_dim" in str(info.value) and "int" in str(info.value)
    with pytest.raises(RundiffError):
        plan_ablation(base, ["lr_scheduler"], values=["cosine", "wobbly"])


def test_derived_rows_and_option_lists_cannot_be_varied(base):
    with pytest.raises(RundiffError, match="computed from other settings"):
        plan_ablation(base, ["lora_scale"], values=["0.5", "1"])
    with pytest.raises(RundiffError, match="list of options"):
        plan_ablation(base, ["network_args"], values=["a=1", "b=2"])


def test_aliases_are_accepted(base):
    plan = plan_ablation(base, ["lora_rank"], values=["8", "16"])  # a trainer-config alias of network_dim
    assert plan.factors == ["network_dim"]


def test_default_ladder_from_the_registry(base):
    plan = plan_ablation(base, ["network_dim"])
    values = [v.overrides["network_dim"] for v in plan.variants]
    assert values == [8, 16, 32, 64]  # the ladder already holds the base's 32


def test_like_runs_give_the_values(base, tmp_path):
    other = tmp_path / "other.sh"
    other.write_text("accelerate launch train_network.py --network_dim=128 --learning_rate=2e-4\n")
    plan = plan_ablation(base, ["network_dim", "learning_rate"], like=[load_run(other)])
    assert [v.name for v in plan.variants] == [
        "network_dim=32",
        "network_dim=128",
        "learning_rate=0.0001",
        "learning_rate=0.0002",
    ]


def test_one_factor_at_a_time_vs_grid_and_seeds(base):
    one = plan_ablation(base, ["network_dim", "network_alpha"], like=None, seeds=[0, 1])
    assert all(len(v.overrides) == 1 for v in one.variants)
    assert "network_dim=8,seed=1" in [v.name for v in one.variants]
    grid = plan_ablation(base, ["network_dim", "network_alpha"], grid=True)
    assert len(grid.variants) == 4 * 4
    assert all(set(v.overrides) == {"network_dim", "network_alpha"} for v in grid.variants)


def test_config_hash_changes_with_the_effective_config(base):
    plan = plan_ablation(base, ["network_dim"], values=["8", "16"])
    a, b = plan.variants[1], plan.variants[2]
    settings = {"backend": "builtin", "steps": 10}
    assert a.config_hash(plan.base_values, settings) == a.config_hash(plan.base_values, settings)
    assert a.config_hash(plan.base_values, settings) != b.config_hash(plan.base_values, settings)
    assert a.config_hash(plan.base_values, settings) != a.config_hash(plan.base_values, {**settings, "steps": 20})


def test_nothing_to_compare_is_an_error(base):
    with pytest.raises(RundiffError, match="base run's own"):
        plan_ablation(base, ["network_dim"], values=["32", "32"])


def test_values_all_equal_to_the_base_value_are_refused(base):
    with pytest.raises(RundiffError, match="every --values value of network_dim is the base run's own"):
        plan_ablation(base, ["network_dim"], values=["32"])
    with pytest.raises(RundiffError, match="base run's own"):
        plan_ablation(base, ["learning_rate"], values=["1e-4", "0.0001"])
    assert len(plan_ablation(base, ["network_dim"], values=["32", "64"]).variants) == 2  # one differs: fine


def _run(tmp_path, args: str, name: str = "r"):
    run = tmp_path / name
    run.mkdir()
    (run / "train.sh").write_text("accelerate launch train_network.py --network_module=networks.lora " + args + "\n")
    return load_run(run)


def test_a_knob_the_base_overrides_is_refused_naming_what_takes_effect(tmp_path):
    base = _run(tmp_path, "--learning_rate=1e-4 --unet_lr=2e-4 --text_encoder_lr=5e-5 --network_dim=8")
    with pytest.raises(RundiffError) as info:
        plan_ablation(base, ["learning_rate"], values=["5e-5", "2e-4"])
    text = str(info.value)
    assert "unet_lr=0.0002" in text and "text_encoder_lr=5e-05" in text and "vary unet_lr or text_encoder_lr" in text
    # unet_lr alone does not shadow learning_rate: the text encoder still trains at it
    only_unet = _run(tmp_path, "--learning_rate=1e-4 --unet_lr=2e-4 --network_dim=8", "u")
    assert len(plan_ablation(only_unet, ["learning_rate"], values=["5e-5", "2e-4"]).variants) == 3
    unet_only = _run(tmp_path, "--learning_rate=1e-4 --unet_lr=2e-4 --network_train_unet_only", "o")
    with pytest.raises(RundiffError, match="only the U-Net trains"):
        plan_ablation(unet_only, ["learning_rate"], values=["5e-5", "2e-4"])
    with pytest.raises(RundiffError, match="text_encoder_lr has no effect: network_train_unet_only is"):
        plan_ablation(unet_only, ["text_encoder_lr"], values=["5e-5", "2e-4"])


def test_a_knob_inactive_in_the_base_run_is_refused(tmp_path):
    base = _run(tmp_path, "--lr_scheduler=cosine --learning_rate=1e-4", "c")
    with pytest.raises(RundiffError, match="lr_scheduler_num_cycles has no effect: lr_scheduler is cosine"):
        plan_ablation(base, ["lr_scheduler_num_cycles"], values=["1", "3"])
    restarts = _run(tmp_path, "--lr_scheduler=cosine_with_restarts --learning_rate=1e-4", "r")
    assert len(plan_ablation(restarts, ["lr_scheduler_num_cycles"], values=["1", "3"]).variants) >= 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("base_weights", "a.safetensors --network_module=evil"),
        ("base_weights", "--output_dir=/x"),
        ("network_module", "a\nb"),
        ("network_module", "a\x00b"),
        ("network_module", "-x"),
        ("network_module", "evil\x1b[31m"),
    ],
)
def test_a_value_that_is_not_exactly_one_argument_is_refused(base, name, value):
    with pytest.raises(RundiffError, match="refused"):
        plan_ablation(base, [name], values=[value, "networks.lora"])


def test_negative_numbers_and_plain_paths_are_fine(base):
    plan_ablation(base, ["base_weights"], values=["a.safetensors", "dir/b-c.safetensors"])
    plan_ablation(base, ["network_dim"], values=["16", "64"])


def test_compressed_horizon_keeps_the_warmup_fraction(tmp_path):
    base = _run(tmp_path, "--lr_scheduler=cosine --lr_warmup_steps=150 --max_train_steps=1200 --learning_rate=1e-4")
    plan = plan_ablation(base, ["network_dim"], values=["8", "16"], steps=40)
    schedule = plan.variants[0].schedule
    assert plan.horizon == "compressed"
    assert schedule["warmup_steps"] == 5 and schedule["schedule_steps"] == 40  # 150/1200 of 40
    assert schedule["base_total_steps"] == 1200 and schedule["base_warmup_steps"] == 150
    assert "warmup 5 steps" in plan.schedule_lines()[0] and "compressed" in plan.schedule_lines()[0]
    assert plan.to_json()["horizon"] == "compressed"


def test_prefix_horizon_refuses_a_short_run_that_never_leaves_warmup(tmp_path):
    base = _run(tmp_path, "--lr_scheduler=cosine --lr_warmup_steps=150 --max_train_steps=1200 --learning_rate=1e-4")
    with pytest.raises(RundiffError, match="never leaves warmup"):
        plan_ablation(base, ["network_dim"], values=["8", "16"], steps=20, horizon="prefix")
    plan = plan_ablation(base, ["network_dim"], values=["8", "16"], steps=300, horizon="prefix")
    schedule = plan.variants[0].schedule
    assert (schedule["warmup_steps"], schedule["schedule_steps"], schedule["steps"]) == (150, 1200, 300)
    assert "first 300 steps of the 1200-step cosine schedule" in plan.schedule_lines()[0]


def test_a_variant_whose_lr_stays_low_is_refused_with_the_reason(tmp_path):
    # warmup is the whole base run: compressed, the short run is all warmup too
    base = _run(tmp_path, "--lr_scheduler=linear --lr_warmup_steps=1000 --max_train_steps=1000 --learning_rate=1e-4")
    with pytest.raises(RundiffError, match="never leaves warmup"):
        plan_ablation(base, ["network_dim"], values=["8", "16"], steps=20)
    ok = _run(tmp_path, "--lr_scheduler=linear --lr_warmup_steps=100 --max_train_steps=1000", "ok")
    with pytest.raises(RundiffError, match="variant lr_warmup_steps=990"):
        plan_ablation(ok, ["lr_warmup_steps"], values=["50", "990"], steps=20)
    assert len(plan_ablation(ok, ["lr_warmup_steps"], values=["50", "200"], steps=20).variants) == 3
