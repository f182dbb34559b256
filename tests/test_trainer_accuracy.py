"""Per-trainer accuracy: real-format run folders, values read as a user reads them.

Each `tests/fixtures/trainers/<trainer>/<case>/` is a run folder in that trainer's own format; its
`<case>.expected.yaml` lists canonical values written from the trainer's source and docs (not
from rundiff's output). The values are read from `rundiff compare RUN --format json --all`, the
same way the issue's check reads them. A value counts as right when it equals the expected one
(numbers within 1e-9 relative; `null` means the run sets no value: JSON null or absent).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rundiff.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "trainers"
CASES = sorted(FIXTURES.glob("*/*.expected.yaml"))
#: The bar of issue 9: overall and per trainer.
OVERALL_BAR = 0.98
PER_TRAINER_BAR = 0.95


def same(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(same(a, e) for a, e in zip(actual, expected, strict=True))
    return actual == expected


@cache
def read_case(expected_file: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(expected spec, the run's JSON entry and values by parameter name)."""
    spec = yaml.safe_load(expected_file.read_text())
    run_dir = expected_file.with_name(expected_file.name.removesuffix(".expected.yaml"))
    result = CliRunner().invoke(app, ["compare", str(run_dir), "--format", "json", "--all"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    run = data["runs"][0]
    values = {p["name"]: p["values"][run["name"]] for p in data["parameters"]}
    return spec, {"run": run, "values": values}


def score(expected_file: Path) -> tuple[str, int, list[str]]:
    spec, got = read_case(expected_file)
    wrong = []
    for name, expected in spec["values"].items():
        cell = got["values"].get(name)
        actual = cell["value"] if cell is not None and cell["provenance"] != "unknown" else None
        if not same(actual, expected):
            wrong.append(f"{name}: expected {expected!r}, got {actual!r}")
    return spec["trainer"], len(spec["values"]), wrong


@pytest.mark.parametrize("expected_file", CASES, ids=[f"{p.parent.name}/{p.name.split('.')[0]}" for p in CASES])
def test_case_trainer_is_recognised_with_evidence(expected_file: Path) -> None:
    spec, got = read_case(expected_file)
    assert got["run"]["trainer"] == spec["trainer"]
    assert got["run"]["trainer_evidence"], "the evidence that named the trainer is listed"


def test_accuracy_per_trainer() -> None:
    """Share of expected values right, per trainer and overall; prints the table (pytest -s)."""
    totals: dict[str, list[int]] = {}
    failures: list[str] = []
    for expected_file in CASES:
        trainer, count, wrong = score(expected_file)
        entry = totals.setdefault(trainer, [0, 0])
        entry[0] += count - len(wrong)
        entry[1] += count
        failures.extend(f"{expected_file.parent.name}/{expected_file.name}: {w}" for w in wrong)
    right = sum(r for r, _ in totals.values())
    total = sum(t for _, t in totals.values())
    print("\ntrainer accuracy (values right / values checked)")
    for trainer, (r, t) in sorted(totals.items()):
        print(f"  {trainer:14s} {r:4d}/{t:<4d} {100 * r / t:6.1f} %")
    print(f"  {'overall':14s} {right:4d}/{total:<4d} {100 * right / total:6.1f} %")
    for line in failures:
        print("  wrong:", line)
    assert total > 0
    assert right / total >= OVERALL_BAR, failures
    for trainer, (r, t) in totals.items():
        assert r / t >= PER_TRAINER_BAR, (trainer, failures)
