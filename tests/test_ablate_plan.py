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
    (run / "train.sh").write_text(textwrap.dedent("""
        accelerate launch train_network.py --network_module=networks.lora --network_dim=32 --network_alpha=16 \\
          --learning_rate=1e-4 --optimizer_type=AdamW8bit --lr_scheduler=cosine --resolution=512 --seed=42
        """))
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
    assert [v.name for v in plan.variants] == ["network_dim=32", "network_dim=128", "learning_rate=0.0001",
                                               "learning_rate=0.0002"]


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
    with pytest.raises(RundiffError, match="only one value"):
        plan_ablation(base, ["network_dim"], values=["32"])
