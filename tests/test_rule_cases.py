"""Every diagnose rule against its cases (tests/rule_cases/<RULE>/*.yaml): fires where it must, never elsewhere.

One parametrised test runs every case through the real pipeline (files on disk -> load_run ->
diagnose); the meta-test fails when a rule has no case that fires or none that must stay quiet.
"""

from pathlib import Path

import pytest
import yaml
from rule_case_files import write_case

import rundiff
from rundiff.diagnose.engine import RuleSelection, diagnose_runs
from rundiff.diagnose.rules import RULES, RULES_BY_ID

CASES = Path(__file__).resolve().parent / "rule_cases"


def _cases():
    for path in sorted(CASES.glob("*/*.yaml")):
        yield pytest.param(path, id=f"{path.parent.name}/{path.stem}")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", list(_cases()))
def test_rule_case(path, tmp_path):
    rule_id = path.parent.name
    assert rule_id in RULES_BY_ID, f"{path}: no rule {rule_id!r}"
    case = _load(path)
    run = rundiff.load_run(write_case(case, tmp_path / path.stem))
    selection = RuleSelection.of(thresholds=case.get("config") or {})
    result = diagnose_runs([run], ignore=selection, weights=bool(case.get("read_weights"))).runs[0]
    found = [f for f in result.findings if f.rule == rule_id]
    expect = case["expect"]
    not_checked = {n.rule: n.needs for n in result.not_checked}
    if expect.get("not_checked"):
        assert rule_id in not_checked and not found, (found, not_checked)
        if isinstance(expect["not_checked"], str):
            assert expect["not_checked"] in not_checked[rule_id]
        return
    if not expect["fires"]:
        assert not found, [f.message for f in found]
        if expect.get("checked", True):
            assert rule_id not in not_checked, not_checked.get(rule_id)
        return
    assert len(found) == 1, (not_checked.get(rule_id), [f.rule for f in result.findings], result.warnings)
    finding = found[0]
    if "severity" in expect:
        assert str(finding.severity) == expect["severity"], finding.message
    for key, value in (expect.get("evidence") or {}).items():
        assert finding.evidence.get(key) == pytest.approx(value), (key, finding.evidence)
    if "message" in expect:
        assert expect["message"] in finding.message, finding.message
    based = {row["name"] for row in finding.based_on}
    assert finding.based_on, "a finding names the values it rests on"
    for name in expect.get("based_on") or []:
        assert name in based, (name, based)
    for row in finding.based_on:
        assert row["provenance"] in ("explicit", "metadata", "weights", "inferred", "derived", "default"), row
        if row["provenance"] in ("explicit", "inferred", "metadata") and row["name"] != "log":
            assert row["source"], row


def test_every_rule_has_a_case_that_fires_and_one_that_must_not():
    missing = []
    for rule in RULES:
        cases = [_load(p)["expect"] for p in sorted((CASES / rule.id).glob("*.yaml"))]
        fires = [c for c in cases if c.get("fires") and not c.get("not_checked")]
        quiet = [c for c in cases if c.get("fires") is False and not c.get("not_checked")]
        if not fires or not quiet:
            missing.append(f"{rule.id}: {len(fires)} firing, {len(quiet)} quiet case(s)")
    assert not missing, "rules without both kinds of case: " + "; ".join(missing)
