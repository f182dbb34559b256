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
