"""Shared fixtures: the sample runs copied into tmp_path (with the sparse LoRA built there)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RUNS = ROOT / "sample_runs"


@pytest.fixture(scope="session")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of sample_runs/ with SD15_bespoke_baby's LoRA written (sparse)."""
    target = tmp_path_factory.mktemp("sample") / "sample_runs"
    shutil.copytree(SAMPLE_RUNS, target, ignore=shutil.ignore_patterns("*.safetensors", "__pycache__"))
    sys.path.insert(0, str(SAMPLE_RUNS))
    try:
        import build  # sample_runs/build.py
    finally:
        sys.path.remove(str(SAMPLE_RUNS))
    build.build(target)
    return target
