"""The one value reader against what sd-scripts really does, one test per case where copies disagreed.

Sources (kohya-ss/sd-scripts 48d368fa): ``library/train_util.py`` ``add_optimizer_arguments.int_or_float``
(the ``--lr_warmup_steps`` / ``--lr_decay_steps`` type), ``get_scheduler_fix`` (a float warmup is a ratio of
the total), ``read_config_from_file`` (``--config_file`` values become the argparse namespace unconverted,
so a TOML float stays a float and flags are tested by truth), store_true flags, ``type=int`` arguments.
"""

from __future__ import annotations

import json
import time
from datetime import time as clock
from pathlib import Path

import pytest

from rundiff.ablate.backends.builtin.config import TrainConfig
from rundiff.ablate.backends.kohya import args as kohya_args
from rundiff.errors import RundiffError
from rundiff.ingest.launch import registry_list_args
from rundiff.model import Fact, Provenance, SourceKind
from rundiff.normalise.merge import Unusable, map_fact, resolve
from rundiff.normalise.registry import load_registry
from rundiff.normalise.values import ValueProblem, coerce, show, to_bool, to_int, to_number, values_equal

FIXTURE = Path(__file__).parent / "fixtures" / "sd_scripts_args_48d368fa.json"


def param(name):
    found = load_registry().get(name)
    assert found is not None, name
    return found


# ------------------------------------------------------------------ warmup: int_or_float, by where it is written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500", 500),
        ("0.1", 0.1),
        ("10%", 0.1),
        ("0", 0.0),
        ("0.0", 0.0),
        (" 2 ", 2),
    ],
)
def test_command_line_warmup_is_read_like_int_or_float(text, expected):
    value = coerce(param("lr_warmup_steps"), text, argv=True)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["2.0", "1e3", "100.5"])
def test_command_line_warmup_of_one_or_more_must_be_an_integer(text):
    """int_or_float: float(value) >= 1 -> int(value), which refuses "2.0": sd-scripts exits on it."""
    with pytest.raises(ValueProblem, match="integer"):
        coerce(param("lr_warmup_steps"), text, argv=True)


def test_config_float_warmup_stays_a_ratio_even_at_two():
    """read_config_from_file leaves TOML values unconverted; get_scheduler_fix multiplies a float."""
    assert coerce(param("lr_warmup_steps"), 2.0) == 2.0
    assert coerce(param("lr_warmup_steps"), 2) == 2 and isinstance(coerce(param("lr_warmup_steps"), 2), int)
    # ss_lr_warmup_steps is str() of that value: "2.0" in metadata is the TOML float
    assert coerce(param("lr_warmup_steps"), "2.0") == 2.0


def test_warmup_2_point_0_means_the_same_in_ingest_and_builtin_trainer():
    """Once a disagreement: "2.0" was 2 steps in one copy and a ratio in another."""
    assert TrainConfig.from_params({"lr_warmup_steps": "2.0", "lr_scheduler": "linear"}).warmup_steps(100) == 200
    assert TrainConfig.from_params({"lr_warmup_steps": 2, "lr_scheduler": "linear"}).warmup_steps(100) == 2


def test_kohya_backend_reads_the_warmup_with_the_same_reader():
    """Once a disagreement: the kohya backend read "2.0" as 2 steps, ingest as a ratio."""
    from rundiff.ablate.backends.kohya.backend import int_or_float

    assert int_or_float("2.0") is None  # sd-scripts refuses it on the command line
    assert int_or_float(2.0) == 2.0 and int_or_float("0.1") == 0.1 and int_or_float("10%") == 0.1
    assert int_or_float("500") == 500


def test_merge_reads_a_script_warmup_as_argv_and_a_toml_one_as_typed():
    registry = load_registry()
    warnings: list[str] = []
    cli = Fact("lr_warmup_steps", "2.0", SourceKind.CLI, "train.sh", 3)
    [(name, value, _)] = map_fact(cli, registry, warnings)
    assert name == "lr_warmup_steps" and isinstance(value, Unusable) and "integer" in value
    assert warnings and "train.sh:3 [lr_warmup_steps]" in warnings[0]
    toml = Fact("lr_warmup_steps", 2.0, SourceKind.CONFIG_TOML, "config.toml", 7)
    assert map_fact(toml, registry, [])[0][1] == 2.0


# ------------------------------------------------------------------ flags


def test_a_typed_number_for_a_flag_is_read_by_its_truth():
    """`cache_latents = 2` in a --config_file: sd-scripts tests `if args.cache_latents:`, so it is on.
    Once a disagreement: 2 was True in the builtin trainer and an error in values.py."""
    assert coerce(param("cache_latents"), 2) is True
    assert coerce(param("cache_latents"), 0) is False
    assert TrainConfig.from_params({"shuffle_caption": 2}).shuffle_caption is True


def test_a_quoted_false_in_a_config_file_turns_the_flag_on():
    """read_config_from_file does not convert: `cache_latents = "false"` is a non-empty string, so
    `if args.cache_latents:` is true. rundiff shows the flag on, and warns."""
    registry = load_registry()
    warnings: list[str] = []
    fact = Fact("cache_latents", "false", SourceKind.CONFIG_TOML, "config.toml", 4)
    [(name, value, note)] = map_fact(fact, registry, warnings)
    assert (name, value) == ("cache_latents", True) and "truth" in note
    assert warnings and "config.toml:4 [cache_latents]" in warnings[0]
    assert map_fact(Fact("cache_latents", "", SourceKind.CONFIG_TOML, "c.toml", 1), registry, [])[0][1] is False
    quiet: list[str] = []
    assert map_fact(Fact("cache_latents", "true", SourceKind.CONFIG_TOML, "c.toml", 1), registry, quiet)[0][1] is True
    assert not quiet  # a quoted "true" means what it says: no warning
    # the same text elsewhere (a GUI JSON, another trainer's YAML) is read as the word it is
    assert map_fact(Fact("cache_latents", "false", SourceKind.GUI, "gui.json", 1), registry, [])[0][1] is False


def test_text_for_a_flag_must_be_a_boolean_word():
    assert to_bool("True") is True and to_bool("off") is False
    with pytest.raises(ValueProblem):
        to_bool("2")
    with pytest.raises(RundiffError):
        TrainConfig.from_params({"shuffle_caption": "2"})


# ------------------------------------------------------------------ ints


def test_command_line_int_is_read_like_argparse_int():
    """type=int: int("2.0") fails, so sd-scripts refuses `--network_dim 2.0`."""
    assert to_int("16", argv=True) == 16
    with pytest.raises(ValueProblem):
        to_int("2.0", argv=True)


def test_typed_whole_float_is_an_int_and_a_fraction_is_not():
    assert coerce(param("network_dim"), 16.0) == 16
    assert coerce(param("network_dim"), "16.0") == 16  # str() of a TOML float, as ss_* metadata holds it
    for raw in (0.5, "0.5", "1e-320", "1.5"):
        with pytest.raises(ValueProblem):
            coerce(param("lr_scheduler_num_cycles"), raw)


def test_builtin_trainer_reads_ints_like_ingest():
    """Once a disagreement: the builtin trainer refused "16.0" that ingest read as 16."""
    assert TrainConfig.from_params({"network_dim": "16.0"}).network_dim == coerce(param("network_dim"), "16.0")


# ------------------------------------------------------------------ floats and percentages


@pytest.mark.parametrize(
    "raw", ["nan", "inf", "-Infinity", float("nan"), float("inf"), 5e-324, "1e-320", "5x%", "5%", "1,2", "abc", 10**400]
)
def test_learning_rate_must_be_a_finite_normal_float(raw):
    """A percentage is read for warmup/decay steps only (int_or_float); type=float refuses "5%"."""
    with pytest.raises(ValueProblem):
        coerce(param("learning_rate"), raw)


def test_builtin_and_ingest_refuse_the_same_non_finite_values():
    """Once a disagreement: values.py accepted nan/inf that the builtin trainer refused."""
    for raw in ("nan", "inf"):
        with pytest.raises(ValueProblem):
            coerce(param("learning_rate"), raw)
        with pytest.raises(RundiffError):
            TrainConfig.from_params({"learning_rate": raw})


def test_ranges_from_the_registry():
    for name, raw in (("train_batch_size", 0), ("ema_decay", 1.5), ("learning_rate", -1e-4), ("lr_warmup_steps", -5)):
        with pytest.raises(ValueProblem, match="sensible"):
            coerce(param(name), raw)


# ------------------------------------------------------------------ sizes, kinds and odd types


def test_huge_integers_are_refused_before_conversion():
    text = "9" * 4400  # int() of this raises past Python's 4300-digit limit, and takes time
    started = time.perf_counter()
    for name in ("lr_warmup_steps", "network_dim", "learning_rate"):
        with pytest.raises(ValueProblem, match="4400 digits"):
            coerce(param(name), text, argv=True)
        with pytest.raises(ValueProblem):
            coerce(param(name), 10**4000)
    assert time.perf_counter() - started < 0.5
    assert "digits" in show(10**4000)


def test_toml_time_in_a_numeric_parameter_is_refused():
    with pytest.raises(ValueProblem, match="date/time"):
        coerce(param("lr_scheduler_num_cycles"), clock(7, 32))


def test_values_equal_never_overflows():
    assert values_equal(10**300, 0.1) is False
    assert values_equal(10**300, 10**300) is True


def test_one_unusable_value_makes_the_cell_unknown_with_the_reason():
    registry = load_registry()
    from rundiff.normalise.merge import Observation

    reason = Unusable("the value of learning_rate was not used: expected a finite number, got 'nan'")
    cells, conflicts = resolve(
        "run", [Observation("learning_rate", reason, Provenance.EXPLICIT, "a.sh:1", "a", 0)], registry
    )
    cell = cells["learning_rate"]
    assert not cell.known and cell.source == "a.sh:1" and "finite" in cell.note and not conflicts


def test_different_values_per_subset_stay_a_list():
    assert coerce(param("num_repeats"), [10, 2]) == [10, 2]
    assert coerce(param("text_encoder_lr"), ["5e-5", "5e-5"]) == 5e-5


def test_to_number_percent_and_ratio_text():
    assert to_number("25%") == 0.25 and to_number("0.25") == 0.25 and to_number("300") == 300


# ------------------------------------------------------------------ one vocabulary: the registry


def test_ablate_argument_table_is_derived_from_the_registry_and_matches_sd_scripts():
    """kohya_args.py held this table beside the registry; now the registry carries it. The fixture is
    that table as introspected from sd-scripts' own argparse parsers at 48d368fa."""
    reference = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for script in ("train_network.py", "sdxl_train_network.py"):
        derived = {
            name: [list(x) if isinstance(x, tuple) else x for x in row]
            for name, row in kohya_args.arguments(script).items()
        }
        assert derived == reference[script], script


def test_launch_parser_lists_are_sd_scripts_nargs_star_arguments():
    reference = json.loads(FIXTURE.read_text(encoding="utf-8"))["sdxl_train_network.py"]
    nargs = {name for name, row in reference.items() if row[0] == "list"}
    assert registry_list_args() == nargs
    flags = {name for name, row in reference.items() if row[0] == "flag"}
    assert flags <= set(load_registry().flag_names())


def test_every_sd_scripts_argument_in_the_registry_has_a_kind():
    registry = load_registry()
    for name, arg in registry.sd_scripts_arguments("sdxl_train_network.py").items():
        assert arg.kind in ("flag", "value", "list"), name
    for p in registry.parameters.values():
        assert p.derived or p.kind in ("flag", "value", "list"), f"{p.name} has no argument kind"
