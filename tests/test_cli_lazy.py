"""Lazy command registration: ``rundiff --help`` and ``infer-rank`` import only what they need."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rundiff.cli import COMMANDS, overview

CLI = Path(__file__).resolve().parents[1] / "src" / "rundiff" / "cli"
HEAVY = ("typer", "click", "rich", "pandas", "numpy", "matplotlib", "yaml", "jinja2", "torch", "tensorboard")


def _modules_after(*args: str) -> set[str]:
    code = (
        "import sys\nfrom rundiff.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(repr(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    return set(ast.literal_eval(proc.stderr.strip().splitlines()[-1]))


def test_help_imports_no_library(tmp_path):
    loaded = _modules_after("--help")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    assert not any(m.startswith("rundiff.") and m not in ("rundiff.cli",) for m in loaded)


def test_infer_rank_imports_neither_typer_nor_other_commands(tmp_path):
    from rundiff.infer.synth import write_lora

    p = write_lora(tmp_path / "a.safetensors", arch="sd15", rank=4)
    loaded = _modules_after("infer-rank", str(p))
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    assert not any(
        m.startswith(
            (
                "rundiff.cli.compare",
                "rundiff.cli.ablate",
                "rundiff.cli.diagnose",
                "rundiff.comparison",
                "rundiff.normalise",
                "rundiff.infer.inventory",
            )
        )
        for m in loaded
    )


def test_compare_loads_its_module_only():
    loaded = _modules_after("compare", "--help")
    assert "rundiff.cli.compare" in loaded
    assert "rundiff.cli.ablate" not in loaded and "rundiff.cli.diagnose" not in loaded


def test_command_table_matches_the_modules():
    """Every cli module that registers a command is in COMMANDS, under the name it registers."""
    registered = {}
    for path in CLI.glob("*.py"):
        text = path.read_text()
        for name in COMMANDS:
            if re.search(rf'app\.command\(\s*"{re.escape(name)}"', text):
                registered[name] = f"rundiff.cli.{path.stem}"
    for name, (module, summary) in COMMANDS.items():
        if name == "infer-rank":
            assert module == "rundiff.cli.infer_rank" and summary
            continue
        assert registered.get(name) == module, name
    assert all(name in overview() for name in COMMANDS)


def test_typer_app_still_runs_every_command(tmp_path):
    from rundiff.cli import app
    from rundiff.infer.synth import write_lora

    p = write_lora(tmp_path / "a.safetensors", arch="sd15", rank=4)
    runner = CliRunner()
    result = runner.invoke(app, ["infer-rank", str(p), "--json"])
    assert result.exit_code == 0 and '"rank": 4' in result.output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and all(name in result.output for name in COMMANDS)
    assert runner.invoke(app, ["compare", "--help"]).exit_code == 0
    assert runner.invoke(app, ["nonsense"]).exit_code == 2


def test_infer_rank_config_presence_agrees_with_the_config_reader(tmp_path, monkeypatch):
    """The cheap pre-check never misses a file rundiff.config would use (it may only over-report)."""
    from rundiff.cli.infer_rank import _config_present
    from rundiff.config import find_config_file

    monkeypatch.delenv("RUNDIFF_CONFIG", raising=False)
    monkeypatch.delenv("RUNDIFF_NO_CONFIG", raising=False)
    cases = {
        "plain": '[project]\nname = "rundiff"\n[project.scripts]\nrundiff = "rundiff.cli:main"\n',
        "table": '[project]\nname = "x"\n[tool.rundiff]\nformat = "md"\n',
        "inline": '[tool]\nrundiff = {format = "md"}\n',
        "sub": "[tool.rundiff.compare]\nall = true\n",
    }
    for name, text in cases.items():
        folder = tmp_path / name / "deep"
        folder.mkdir(parents=True)
        (tmp_path / name / "pyproject.toml").write_text(text)
        monkeypatch.chdir(folder)
        real = find_config_file() is not None
        assert _config_present(None) or not real, name
        assert _config_present(None) == (name != "plain"), name
    (tmp_path / "plain" / "deep" / "rundiff.toml").write_text("")
    monkeypatch.chdir(tmp_path / "plain" / "deep")
    assert _config_present(None) and find_config_file() is not None


def test_infer_rank_reads_its_config_table(tmp_path, monkeypatch):
    from rundiff.infer.synth import write_lora

    p = write_lora(tmp_path / "a.safetensors", arch="sd15", rank=4)
    (tmp_path / "rundiff.toml").write_text("[infer-rank]\njson = true\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rundiff", "infer-rank", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and proc.stdout.lstrip().startswith("{"), proc.stderr
    (tmp_path / "rundiff.toml").write_text("[infer-rank]\nnonsense = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rundiff", "infer-rank", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "no option --nonsense" in proc.stderr
