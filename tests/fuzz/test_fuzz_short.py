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

#: Families whose short run still finds crashes in code another helper is fixing on main (owner named);
#: not strict, so they count as passes once fixed. Empty once every owner's fixes have landed.
KNOWN: dict[str, str] = {
    **dict.fromkeys(("sh", "ps1", "bat", "markdown", "toml", "trainer_yaml"),
                    "values (nan/inf values: IndexError in normalise/merge.py resolve, C01)"),
    "dataset_folder": "diagnose/values (num_repeats as a list in rules/dataset.py, C44)",
    "csv_log": "diagnose (csv.Error and OverflowError in the CSV log reader, C34)",
    "diagnose": "values (schedule values as strings, inf in derived rows, C02-C16)",
    "reports": "values (schedule values as strings, C05) and reports",
    "plots": "diagnose (mathtext in run names, C35/C36) and values (inf in derived rows)",
    "ablate_plan": "values/ablate (to_float on '%', C02)",
}
#: Seeds a family's target cannot yet read because of such a crash.
SEED_KNOWN: dict[str, str] = {"dataset_folder": KNOWN["dataset_folder"], "plots": KNOWN["plots"]}
#: Families with no reader on main yet: their seeds are refused cleanly instead of read.
NOT_YET_READ: dict[str, str] = {"trainer_env": "profiles (ingest/env_file.py)"}


def _param(family: str):
    if family in KNOWN:
        return pytest.param(family, marks=pytest.mark.xfail(strict=False, reason=f"owner: {KNOWN[family]}"))
    return family


@pytest.fixture(scope="module")
def tallies(tmp_path_factory):
    settings = Settings(inputs=SHORT_INPUTS, seconds=SHORT_SECONDS, time_limit=10.0, memory_limit=1 << 30,
                        scratch=tmp_path_factory.mktemp("fuzz"))
    return run_campaign(list(FAMILIES), settings, jobs=2)


@pytest.mark.parametrize("family", [_param(f) for f in FAMILIES])
def test_family_has_no_crash_hang_or_memory_blowup(family, tallies):
    tally = tallies[family]
    assert tally.total >= MIN_INPUTS, f"only {tally.total} inputs ran"
    failures = "\n\n".join(f"{key}\n{result.detail.strip()[-1200:]}" for key, (result, _) in tally.failures.items())
    assert tally.bad == 0, f"{family}: {tally.counts}\n{failures}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_seeds_read_without_error(family, tmp_path):
    """The fuzzer starts from files rundiff reads: a seed refused outright would fuzz only the refusal."""
    if family in NOT_YET_READ:
        pytest.xfail(f"no reader on main yet; owner: {NOT_YET_READ[family]}")
    if family in SEED_KNOWN:
        pytest.xfail(f"a known crash; owner: {SEED_KNOWN[family]}")
    with Pool(TARGETS, scratch=tmp_path, warm=warm_up) as pool:
        result = pool.run(family, seeds(family)[0])
    assert result.outcome == "ok", result.detail
