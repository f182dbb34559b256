"""Replays of the selected reproducers start together, two at a time, when the first one is asked for."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from .replay import Outcome, replay

_SELECTED: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _SELECTED.extend(
        item.callspec.params["case"]
        for item in items
        if item.originalname == "test_reproducer" and hasattr(item, "callspec")
    )


@pytest.fixture(scope="module")
def replayed() -> dict[str, Future[Outcome]]:
    tmp = Path(tempfile.mkdtemp(prefix="rundiff-repros-"))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield {name: pool.submit(replay, name, tmp) for name in _SELECTED}
    finally:  # rm, not shutil.rmtree: a case leaves 1100 nested folders when it is killed
        subprocess.run(["chmod", "-R", "u+rwX", str(tmp)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
