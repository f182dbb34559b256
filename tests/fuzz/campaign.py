"""A fuzzing campaign: for each family, mutants of its seeds and Hypothesis-built files, run through
one bounded worker, tallied by outcome; several families at once in forked campaign processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from dataclasses import dataclass
from pathlib import Path

from .engine import Pool, Result, Tally, input_id
from .families import FAMILIES, TARGETS, warm_up
from .generate import strategy
from .mutate import Mutator
from .seeds import seeds

#: Share of a family's inputs built by Hypothesis (the rest are mutants of seeds).
HYPOTHESIS_SHARE = 0.35


@dataclass
class Settings:
    inputs: int = 2000  # per family
    seconds: float | None = None  # per family, stops early when spent (after min_inputs)
    min_inputs: int = 30
    time_limit: float = 10.0  # per input (the bar: no input past 10 s)
    memory_limit: int = 1 << 30  # per input, bytes above the worker's start
    seed: int = 0
    scratch: Path = Path("/tmp")
    out: Path | None = None  # failing inputs are written here


class _Stop(Exception):
    pass


def _hypothesis_inputs(family: str, count: int, seed: int, feed) -> None:
    """Feed up to ``count`` Hypothesis-built inputs of the family to ``feed`` (which raises _Stop when done)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as seed_with

    made = strategy(family)
    if made is None or count <= 0:
        return

    @seed_with(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    @given(made)
    def drive(data: bytes) -> None:
        feed(data)

    with contextlib.suppress(_Stop):
        drive()


def run_family(name: str, config: Settings, pool: Pool) -> Tally:
    tally = Tally()
    family_seeds = seeds(name)
    rng = random.Random(f"{config.seed}:{name}")
    mutator = Mutator(family_seeds, FAMILIES[name].tokens, rng)
    hypothesis_count = int(config.inputs * HYPOTHESIS_SHARE) if strategy(name) is not None else 0
    started = time.monotonic()

    def spent() -> bool:
        return (
            config.seconds is not None
            and tally.total >= config.min_inputs
            and time.monotonic() - started > config.seconds
        )

    def feed(data: bytes) -> None:
        if tally.total >= config.inputs or spent():
            raise _Stop
        result = pool.run(name, data)
        if result.outcome == "hang":  # confirm in a fresh worker: a loaded machine is not a hang
            result = pool.run(name, data)
        tally.add(result, data)
        _keep(config, name, result, data)

    try:
        for data in family_seeds:  # the seeds themselves first
            feed(data)
        _hypothesis_inputs(name, hypothesis_count, config.seed, feed)
        while True:
            feed(mutator.mutant())
    except _Stop:
        pass
    return tally


def _keep(config: Settings, family: str, result: Result, data: bytes) -> None:
    if config.out is None or result.outcome not in ("crash", "hang", "memory"):
        return
    folder = config.out / family
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result.outcome}-{input_id(data)}"
    (folder / f"{stem}.bin").write_bytes(data)
    (folder / f"{stem}.txt").write_text(f"{result.signature}\n{result.detail}\n")


def _run_families(names: list[str], config: Settings) -> dict[str, Tally]:
    out = {}
    with Pool(
        TARGETS, time_limit=config.time_limit, memory_limit=config.memory_limit, scratch=config.scratch, warm=warm_up
    ) as pool:
        for name in names:
            out[name] = run_family(name, config, pool)
    return out


def _child(names: list[str], config: Settings, queue) -> None:
    try:
        queue.put(("ok", _run_families(names, config)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which raises it
        queue.put(("error", repr(err)))


def run_campaign(names: list[str], config: Settings, jobs: int = 1) -> dict[str, Tally]:
    """Tallies per family; with ``jobs`` > 1 the families are shared among forked campaign processes."""
    if jobs <= 1 or len(names) <= 1:
        return _run_families(names, config)
    ordered = sorted(names, key=lambda n: -FAMILIES[n].weight)
    shares: list[list[str]] = [[] for _ in range(jobs)]
    for index, name in enumerate(ordered):  # heaviest first, dealt out in a snake so the loads even out
        lane = index % (2 * jobs)
        shares[lane if lane < jobs else 2 * jobs - 1 - lane].append(name)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [context.Process(target=_child, args=(share, config, queue)) for share in shares if share]
    for proc in procs:
        proc.start()
    results: dict[str, Tally] = {}
    for _ in procs:
        status, payload = queue.get()
        if status != "ok":
            raise RuntimeError(f"a campaign process failed: {payload}")
        results.update(payload)
    for proc in procs:
        proc.join()
    return {name: results[name] for name in names}
