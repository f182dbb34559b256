"""The short fuzzing run: every parser family, a few seconds each, must give no crash, hang or memory blow-up.

Each family gets up to RUNDIFF_FUZZ_INPUTS inputs (default 2000) or RUNDIFF_FUZZ_SECONDS seconds
(default 3), whichever ends first, in two campaign processes at once; every input is bounded at
10 s and 1 GiB (a hang is confirmed once in a fresh worker). The long run is
`python -m tests.fuzz --inputs 100000` (README, "Fuzzing").
"""

from __future__ import annotations

import os

import pytest

from .campaign import Settings, run_campaign
from .engine import Pool
from .families import FAMILIES, TARGETS, warm_up
from .seeds import seeds

SHORT_INPUTS = int(os.environ.get("RUNDIFF_FUZZ_INPUTS", "2000"))
SHORT_SECONDS = float(os.environ.get("RUNDIFF_FUZZ_SECONDS", "3"))
#: Fewer inputs than this in the short run means the harness, not rundiff, is broken.
MIN_INPUTS = 20


@pytest.fixture(scope="module")
def tallies(tmp_path_factory):
    settings = Settings(
        inputs=SHORT_INPUTS,
        seconds=SHORT_SECONDS,
        time_limit=10.0,
        memory_limit=1 << 30,
        scratch=tmp_path_factory.mktemp("fuzz"),
    )
    return run_campaign(list(FAMILIES), settings, jobs=2)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_has_no_crash_hang_or_memory_blowup(family, tallies):
    tally = tallies[family]
    assert tally.total >= MIN_INPUTS, f"only {tally.total} inputs ran"
    report = "\n\n".join(f"{key}\n{result.detail.strip()[-1200:]}" for key, (result, _) in tally.failures.items())
    assert not tally.bad, f"{family}: {tally.counts}\n{report}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_seeds_read_without_error(family, tmp_path):
    """The fuzzer starts from files rundiff reads: a seed refused outright would fuzz only the refusal."""
    with Pool(TARGETS, scratch=tmp_path, warm=warm_up) as pool:
        result = pool.run(family, seeds(family)[0])
    assert result.outcome == "ok", result.detail
