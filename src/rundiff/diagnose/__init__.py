"""Training-dynamics diagnosis: simulate the LR schedule and EMA, read the logs, apply the rules."""

from __future__ import annotations

from rundiff.diagnose.engine import diagnose_run, diagnose_runs
from rundiff.diagnose.findings import Diagnosis, Finding, RunDiagnosis, Severity

__all__ = ["Diagnosis", "Finding", "RunDiagnosis", "Severity", "diagnose_run", "diagnose_runs"]
