"""The harness itself: each outcome is told apart, and a worker that hangs, blows up or dies is replaced."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from rundiff.errors import RundiffError

from .engine import Pool, Result, Tally
from .mutate import Mutator


def _ok(data, folder):
    (folder / "x").write_bytes(data)


def _clean(data, folder):
    raise RundiffError("bad input", folder / "x", line=1)


def _crash(data, folder):
    raise ValueError("a bug")


def _recursion(data, folder):
    def down(n):
        return down(n + 1) + 1

    down(0)


def _python_hang(data, folder):
    while True:
        pass


def _c_hang(data, folder):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # stuck where no Python handler runs
    time.sleep(30)


def _memory(data, folder):
    return bytearray(3 << 30)


def _dies(data, folder):
    os.kill(os.getpid(), signal.SIGSEGV)


def _swallows(data, folder):
    try:
        while True:
            pass
    except Exception:  # rundiff code catching Exception must not hide a hang
        return


TARGETS = {
    f.__name__.strip("_"): f
    for f in (_ok, _clean, _crash, _recursion, _python_hang, _c_hang, _memory, _dies, _swallows)
}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with Pool(TARGETS, time_limit=0.5, memory_limit=512 << 20, scratch=tmp_path_factory.mktemp("fuzz"), grace=1.0) as p:
        yield p


@pytest.mark.parametrize(
    ("target", "outcome"),
    [
        ("ok", "ok"),
        ("clean", "clean"),
        ("crash", "crash"),
        ("recursion", "crash"),
        ("python_hang", "hang"),
        ("swallows", "hang"),
        ("memory", "memory"),
        ("dies", "crash"),
        ("c_hang", "hang"),
        ("ok", "ok"),
    ],
)
def test_outcomes_are_told_apart_and_the_worker_recovers(pool, target, outcome):
    result = pool.run(target, b"data")
    assert result.outcome == outcome, result.detail
    assert pool.run("ok", b"after").outcome == "ok"


def test_crash_signature_names_the_exception_and_place(pool):
    result = pool.run("crash", b"")
    assert result.signature.startswith("ValueError@") and "a bug" in result.detail


def test_tally_keeps_one_input_per_distinct_failure():
    tally = Tally()
    for data in (b"a", b"b"):
        tally.add(Result("crash", "", "X@f:1"), data)
    tally.add(Result("clean", "bad input"), b"c")
    assert tally.counts["crash"] == 2 and tally.bad == 2 and list(tally.failures) == ["crash:X@f:1"]


def test_mutants_are_deterministic_bounded_and_varied():
    seeds = [b"learning_rate = 1e-4\nnetwork_dim = 8\n"]
    first, again = Mutator(seeds, rng=random.Random(1)), Mutator(seeds, rng=random.Random(1))
    assert [first.mutant() for _ in range(20)] == [again.mutant() for _ in range(20)]
    mutator = Mutator(seeds, rng=random.Random(2))
    mutants = {mutator.mutant() for _ in range(300)}
    assert len(mutants) > 200 and all(len(m) <= 256 * 1024 for m in mutants)
    assert any(b"9" * 400 in m or b"nan" in m or b"inf" in m for m in mutants)


def test_a_hang_names_where_it_was_stuck(pool):
    result = pool.run("python_hang", b"")
    assert result.outcome == "hang" and result.signature.endswith(":_python_hang")
