"""Defaults from `[tool.rundiff]` in pyproject.toml or a rundiff.toml, found as ruff finds its own."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from rundiff.cli import app
from rundiff.config import find_config_file, load_config
from rundiff.errors import RundiffError

runner = CliRunner()


def write_run(root, name, dim):
    run = root / name
    run.mkdir(parents=True)
    (run / "train.sh").write_text(f"accelerate launch train_network.py --network_dim={dim} --learning_rate=1e-4\n")
    return run


@pytest.fixture(autouse=True)
def no_outside_config(monkeypatch):
    monkeypatch.delenv("RUNDIFF_CONFIG", raising=False)
    monkeypatch.delenv("RUNDIFF_NO_CONFIG", raising=False)


def test_closest_file_wins_and_a_pyproject_without_our_table_is_passed_over(tmp_path):
    (tmp_path / "rundiff.toml").write_text('format = "md"\n')
    inner = tmp_path / "project" / "sub"
    inner.mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config_file(inner) == tmp_path / "rundiff.toml"
    (tmp_path / "project" / "pyproject.toml").write_text("[tool.rundiff.compare]\nall = true\n")
    assert find_config_file(inner) == tmp_path / "project" / "pyproject.toml"
    config = load_config(start=inner)
    assert config.command_options("compare") == {"all": True}
    assert load_config(start=tmp_path).command_options("compare") == {"format": "md"}


def test_stage_tables_are_read_with_section_and_not_taken_as_options(tmp_path):
    (tmp_path / "rundiff.toml").write_text(
        textwrap.dedent("""
        [diagnose]
        ignore = ["ema-too-slow"]
        [diagnose.rules.lr-too-low]
        min_lr = 1e-6
        """)
    )
    config = load_config(start=tmp_path)
    assert config.command_options("diagnose") == {"ignore": ["ema-too-slow"]}
    assert config.section("diagnose", "rules", "lr-too-low") == {"min_lr": 1e-6}
    assert config.section("compare") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("format = \n", "invalid TOML"),
        ("colour = 'red'\n", "unknown setting 'colour'"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it(tmp_path, text, message):
    (tmp_path / "rundiff.toml").write_text(text)
    with pytest.raises(RundiffError, match=message) as err:
        load_config(start=tmp_path)
    assert "rundiff.toml" in str(err.value)


def test_config_sets_option_defaults_and_the_command_line_still_wins(tmp_path, monkeypatch):
    a, b = write_run(tmp_path, "A", 8), write_run(tmp_path, "B", 16)
    (tmp_path / "rundiff.toml").write_text('[compare]\nformat = "json"\nbaseline = "B"\ndiagnose = false\n')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baseline"] == "B" and "findings" not in data
    result = runner.invoke(app, ["compare", str(a), str(b), "--baseline", "A", "--format", "csv"])
    assert result.exit_code == 0 and result.stdout.startswith("parameter,")


def test_an_option_the_command_lacks_is_an_error_naming_the_file_and_key(tmp_path, monkeypatch):
    a = write_run(tmp_path, "A", 8)
    (tmp_path / "pyproject.toml").write_text("[tool.rundiff.compare]\nwide = true\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compare", str(a)])
    assert result.exit_code == 2
    assert "pyproject.toml [compare.wide]" in result.stderr and "--wide" in result.stderr


def test_config_option_and_no_config_env(tmp_path, monkeypatch):
    a = write_run(tmp_path, "A", 8)
    settings = tmp_path / "elsewhere.toml"
    settings.write_text('[compare]\nformat = "csv"\n')
    (tmp_path / "rundiff.toml").write_text('[compare]\nformat = "json"\n')
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["--config", str(settings), "compare", str(a)]).stdout.startswith("parameter,")
    monkeypatch.setenv("RUNDIFF_NO_CONFIG", "1")
    assert "Training runs compared" in runner.invoke(app, ["compare", str(a)]).stdout


def test_a_config_format_is_a_default_that_an_output_extension_overrides(tmp_path, monkeypatch):
    """`format = "md"` in rundiff.toml with `-o report.html` writes HTML (the extension is what was
    typed); a typed --format that disagrees with -o is still refused, for every command."""
    a = write_run(tmp_path, "A", 8)
    (tmp_path / "rundiff.toml").write_text('format = "md"\n')
    monkeypatch.chdir(tmp_path)
    for command in (["compare", str(a)], ["diagnose", str(a), "--exit-zero"]):
        out = tmp_path / f"{command[0]}.html"
        result = runner.invoke(app, [*command, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith("<!DOCTYPE html>")
        clash = runner.invoke(app, [*command, "--format", "md", "-o", str(out)])
        assert clash.exit_code == 2 and "does not match" in clash.stderr
    assert runner.invoke(app, ["compare", str(a)]).stdout.startswith("# Training runs compared")  # still the default
    from rundiff.infer.synth import write_lora

    lora = tmp_path / "lora.safetensors"
    write_lora(lora, rank=4)
    out = tmp_path / "info.json"
    assert runner.invoke(app, ["infer-rank", str(lora), "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["rank"] == 4
    assert runner.invoke(app, ["infer-rank", str(lora), "-f", "md", "-o", str(out)]).exit_code == 2
