"""Run fuzz inputs in forked worker processes, each input bounded in time and memory, and classify it.

A worker is forked once with rundiff already imported and then serves inputs one after another
(a fork per input would cost more than most parsers take). Inside the worker each input runs
under an interval timer (SIGALRM raises `Hang`, a BaseException so no `except Exception` in
rundiff swallows it) and under RLIMIT_AS (the address space at start plus the memory bound, so an
allocation past it is a MemoryError). The parent waits at most twice the time bound plus a margin:
a worker stuck in C code (a regex, a huge int conversion) is killed and the input counted as a hang.
A worker killed by a signal, or out of memory, is replaced.

Outcomes: ``ok`` (returned), ``clean`` (raised RundiffError, the project's one user-error class, or
a command exited 2 with its one-line `rundiff: error:`), ``crash`` (anything else raised, or a worker
killed by a signal other than the parent's), ``hang`` (over the time bound), ``memory`` (over the
memory bound).
"""

from __future__ import annotations

import faulthandler
import hashlib
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("ok", "clean", "crash", "hang", "memory")
_SRC_MARK = f"{os.sep}rundiff{os.sep}"


class Hang(BaseException):  # noqa: N818 (an outcome, not an error type)
    """Raised by SIGALRM inside a worker when one input runs past the time bound."""


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str = ""
    signature: str = ""  # what makes two crashes the same bug: type and innermost rundiff frame
    seconds: float = 0.0


@dataclass
class Tally:
    """Counts per outcome, and the first input seen for each distinct failure signature."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failures: dict[str, tuple[Result, bytes]] = field(default_factory=dict)
    slowest: float = 0.0

    def add(self, result: Result, data: bytes) -> None:
        self.counts[result.outcome] += 1
        self.slowest = max(self.slowest, result.seconds)
        if result.outcome in ("crash", "hang", "memory"):
            self.failures.setdefault(f"{result.outcome}:{result.signature}", (result, data))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def bad(self) -> int:
        return self.counts["crash"] + self.counts["hang"] + self.counts["memory"]


Target = Callable[[bytes, Path], object]


def _signature(err: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename != __file__]  # not the timer's frame
    ours = [f for f in frames if _SRC_MARK in f.filename and "tests" + os.sep + "fuzz" not in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno}:{where.name}" if where else "?"
    return f"{type(err).__name__}@{place}"


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _clear(folder: Path) -> None:
    if not folder.exists():
        return
    try:
        shutil.rmtree(folder)
    except (OSError, RecursionError):
        subprocess.run(["chmod", "-R", "u+rwX", str(folder)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(folder)], check=False, capture_output=True)


def _on_alarm(_signum, _frame):
    raise Hang


def _serve(conn, targets: dict[str, Target], time_limit: float, memory_limit: int, scratch: Path) -> None:
    """The worker loop: one (family, data) in, one Result out, until the pipe closes."""
    from rundiff.errors import RundiffError

    faulthandler.disable()  # a worker killed by a signal is an outcome, not a dump on the parent's terminal
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # parsers that print (rich, warnings) must not flood the parent's terminal
        os.dup2(devnull, fd)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit:
        ceiling = _vm_size() + memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)
    number = 0
    while True:
        try:
            family, data = conn.recv()
        except (EOFError, OSError):
            return
        number += 1
        folder = scratch / f"in{number}"
        folder.mkdir()
        started = time.perf_counter()
        restart = False
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            targets[family](data, folder)
            result = Result("ok")
        except Hang as err:  # where it was when the timer fired names the loop
            text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            result, restart = Result("hang", f"over {time_limit:g} s\n{text[-3000:]}", _signature(err)), True
        except MemoryError as err:
            result, restart = Result("memory", f"over {memory_limit >> 20} MiB", _signature(err)), True
        except BaseException as err:  # noqa: BLE001 - classifying every escape is the point
            if isinstance(err, RundiffError):
                result = Result("clean", str(err)[:200])
            else:
                text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
                result = Result("crash", text[-3000:], _signature(err))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - started
        result = Result(result.outcome, result.detail, result.signature, elapsed)
        try:
            signal.setitimer(signal.ITIMER_REAL, 10)
            _clear(folder)
        except Hang:
            restart = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            conn.send(result)
        except (OSError, ValueError):
            return
        if restart:  # a hang or MemoryError may leave half-built state behind: start clean
            return


class Pool:
    """One forked worker (per Pool) serving inputs, replaced whenever it dies or is killed."""

    def __init__(
        self,
        targets: dict[str, Target],
        *,
        time_limit: float = 5.0,
        memory_limit: int = 1 << 30,
        scratch: Path,
        grace: float = 5.0,
        warm: Callable[[], None] | None = None,
    ) -> None:
        self.targets = targets
        self.warm = warm
        self.grace = grace
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self.scratch = scratch
        self._context = multiprocessing.get_context("fork")
        self._proc = None
        self._conn = None
        self._generation = 0

    def _start(self) -> None:
        if self.warm is not None:
            self.warm()  # in the parent, before forking: later calls find everything imported
            self.warm = None
        self._generation += 1
        parent, child = self._context.Pipe()
        folder = self.scratch / f"w{os.getpid()}-{id(self)}-{self._generation}"
        self._proc = self._context.Process(
            target=_serve, args=(child, self.targets, self.time_limit, self.memory_limit, folder), daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent

    def _stop(self, kill: bool) -> None:
        if self._proc is None:
            return
        if kill and self._proc.is_alive():
            os.kill(self._proc.pid, signal.SIGKILL)
        self._conn.close()
        self._proc.join(timeout=5)
        self._proc, self._conn = None, None

    def run(self, family: str, data: bytes) -> Result:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        started = time.perf_counter()
        try:
            self._conn.send((family, data))
        except (OSError, ValueError):
            self._stop(kill=True)
            return Result("crash", "worker gone before the input was sent", "worker-gone")
        deadline = self.time_limit * 2 + self.grace
        if not self._conn.poll(deadline):
            self._stop(kill=True)
            return Result("hang", f"no answer in {deadline:g} s (stuck outside Python)", family, deadline)
        try:
            result = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(timeout=5)
            code = self._proc.exitcode
            self._stop(kill=True)
            seconds = time.perf_counter() - started
            if code == -signal.SIGKILL:  # the kernel's OOM killer, or RLIMIT_AS outside Python's allocator
                return Result("memory", "worker killed (SIGKILL)", f"{family}-killed", seconds)
            return Result("crash", f"worker died with exit code {code}", f"{family}-exit{code}", seconds)
        if result.outcome in ("hang", "memory"):
            self._stop(kill=False)
        return result

    def close(self) -> None:
        self._stop(kill=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def input_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
