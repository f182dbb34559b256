"""Every hostile-input reproducer (tests/fuzz/repros/, vendored from ../shared/fuzz-repros) through the
real command line: exit 0/1/2, no traceback, one error line, within its time and 1 GiB, nothing leaked."""

from __future__ import annotations

from pathlib import Path

import pytest

from .owners import NOT_YET_FIXED, owner
from .replay import cases


def _param(case: str):
    if case in NOT_YET_FIXED:
        return pytest.param(
            case, marks=pytest.mark.xfail(strict=False, reason=f"not yet fixed on main; owner: {owner(case)}")
        )
    return case


@pytest.mark.parametrize("case", [_param(c) for c in cases()])
def test_reproducer(case, replayed):
    outcome = replayed[case].result()
    assert outcome.ok, f"{case} ({owner(case)}): {outcome.why}"


def test_every_shared_case_is_vendored():
    """The shared folder (when present, as in CI) holds no case this copy lacks."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "fuzz-repros"
    if not shared.is_dir():
        pytest.skip("../shared/fuzz-repros is not beside this checkout")
    shared_cases = {c.name for c in shared.iterdir() if (c / "cmd").is_file()}
    assert not shared_cases - set(cases())
