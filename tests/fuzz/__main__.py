"""``python -m tests.fuzz --inputs 100000``: the long fuzzing run (see README, "Fuzzing").

Prints one line per family (inputs, ok, clean errors, crashes, hangs, memory, slowest input) and
the distinct failures with their input saved under --out; exits 1 when anything crashed, hung or
went over memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .campaign import Settings, run_campaign
from .families import FAMILIES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2000, help="inputs per family (default 2000)")
    parser.add_argument("--seconds", type=float, default=None, help="stop each family after this long")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES), help="only these (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="families fuzzed at once (default 2)")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds one input may take (default 10)")
    parser.add_argument("--memory-limit", type=int, default=1024, help="MiB one input may add (default 1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="failing inputs go here")
    args = parser.parse_args(argv)
    names = args.family or list(FAMILIES)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rundiff-fuzz-") as scratch:
        config = Settings(
            inputs=args.inputs,
            seconds=args.seconds,
            time_limit=args.time_limit,
            memory_limit=args.memory_limit << 20,
            seed=args.seed,
            scratch=Path(scratch),
            out=args.out,
        )
        tallies = run_campaign(names, config, jobs=args.jobs)
    print(f"{'family':<16}{'inputs':>9}{'ok':>9}{'clean':>9}{'crash':>7}{'hang':>6}{'memory':>8}{'slowest':>10}")
    for name, tally in tallies.items():
        c = tally.counts
        print(
            f"{name:<16}{tally.total:>9}{c['ok']:>9}{c['clean']:>9}{c['crash']:>7}{c['hang']:>6}{c['memory']:>8}"
            f"{tally.slowest:>9.2f}s"
        )
    total = sum(t.total for t in tallies.values())
    bad = sum(t.bad for t in tallies.values())
    print(f"{total} inputs in {time.monotonic() - started:.0f} s; {bad} crashed, hung or went over memory")
    for name, tally in tallies.items():
        for key, (result, _data) in tally.failures.items():
            print(f"\n== {name} {key}\n{result.detail.strip()[-1500:]}")
    if bad:
        print(f"\nfailing inputs: {args.out}/<family>/", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
