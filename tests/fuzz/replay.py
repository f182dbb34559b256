"""Replay the hostile-input reproducers in tests/fuzz/repros/ against the real command line.

Each folder holds the files of one case, a `cmd` (bash, run in a scratch copy with $RUNDIFF set),
sometimes a `setup` run first (links, FIFOs, sparse or unreadable files) and sometimes a `timeout`.
The pass criteria are those of ../shared/fuzz-repros/run.py, where the cases came from:

- rundiff exits 0, 1 or 2 and prints no traceback;
- it finishes within the case's time limit (10 s unless the case says less) and its process tree
  stays under 1 GiB resident;
- safety cases (A*, I*) print nothing to stderr when they exit 0 (their `cmd` greps for what leaked),
  except the cases in `LEAKED`, whose `cmd` prints correct output too: for them the printed text
  is judged by what the grep looks for;
- and, beyond run.py, an error is one line: at most one `rundiff: error:` line, with no control
  characters in it.

Where this differs from run.py, on purpose (each difference is a line of the session notes too):
`LEAKED` above, and a case's own `timeout` file is its limit (run.py takes the smaller of it and 10 s,
so A07, filed with 300 s because it trains two variants, would get 10 s).

    python -m tests.fuzz.replay [CASE ...]      # replays with `python -m rundiff` of this interpreter
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPROS = Path(__file__).resolve().parent / "repros"
#: As run.py: REPRO_TIMEOUT raises the limit on a machine too loaded to judge 10 s fairly (say so when used).
LIMIT_S = float(os.environ.get("REPRO_TIMEOUT", "10"))
MEM_CAP = 1 << 30
#: Run as root, the DAC cases drop the capabilities that let root read a mode-000 file. A normal user
#: cannot read such a file anyway, and may not change its capability bounding set.
_SETPRIV = "setpriv --bounding-set=-dac_override,-dac_read_search -- "
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _shows(*payloads: str) -> Callable[[str], bool]:
    """A leak test: any of the file's own control sequences, as `cat -v` prints them, in the text. (Not any
    `^[`: under `script` the output is a terminal, and rundiff's own bold and colours are escapes too.)"""
    return lambda text: any(p in text for p in payloads)


def _model_path_not_resolved(text: str) -> bool:
    found = [ln.strip() for ln in text.splitlines() if ln.startswith("--pretrained_model_name_or_path=")]
    good = r"--pretrained_model_name_or_path=/\S*/base/model\.safetensors"
    return len(found) != 1 or not re.fullmatch(good, found[0])


#: Safety cases whose `cmd` puts correct output on stderr too (rundiff's own stderr, or the grep's line
#: whatever it holds), so that "anything on stderr at exit 0" cannot tell a fix from a leak. For each:
#: what its grep looks for, and the test of the text.
LEAKED: dict[str, tuple[str, Callable[[str], bool]]] = {
    # the dry run's model path: relative (to a folder the trainer does not run in) would be the leak
    "A06_relative_base_relative_paths": (
        "the base's relative model path resolved against the base folder",
        _model_path_not_resolved,
    ),
    # the whole sweep output and the first line of a variant's config.toml, through cat -v
    "A07_control_char_run_name_breaks_builtin": ("the run name's colour escape, raw", _shows("^[[31mred")),
    # the output_name row (and the derived-values line) of a terminal, through cat -v
    "I02_terminal_ansi_from_config": ("the config's title, bell or clear-screen", _shows("PWNED", "^G", "[2J")),
    # grep -c prints how many lines hold the clear-screen sequence: "0" is the pass
    "I05_ansi_in_diagnose_text_from_dirname": (
        "no clear-screen sequence",
        lambda text: (text.strip().splitlines() or [""])[-1] != "0",
    ),
    # the training comment row of a terminal, through cat -v
    "I06_infer_rank_ansi_from_metadata": ("the metadata's title, bell or clear-screen", _shows("PWNED", "^G", "[2J")),
}


@dataclass(frozen=True)
class Outcome:
    case: str
    ok: bool
    why: str
    seconds: float
    peak_rss: int


def cases() -> list[str]:
    return sorted(c.name for c in REPROS.iterdir() if (c / "cmd").is_file())


def default_rundiff() -> str:
    """This interpreter running this checkout's rundiff (PYTHONPATH is passed on)."""
    return f"{shlex.quote(sys.executable)} -m rundiff"


def _tree_rss(pgid: int) -> int:
    total = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if os.getpgid(int(p.name)) != pgid:
                continue
            for line in (p / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ProcessLookupError, ValueError):
            continue
    return total


def _command(work: Path) -> str:
    cmd = (work / "cmd").read_text().strip()
    if os.geteuid() != 0:
        cmd = cmd.replace(_SETPRIV, "")
    return cmd


def replay(name: str, scratch: Path, rundiff: str | None = None) -> Outcome:
    """Run one case in a scratch copy and judge it by the criteria above."""
    case = REPROS / name
    work = scratch / name
    shutil.copytree(case, work, symlinks=True)
    env = {**os.environ, "RUNDIFF": rundiff or default_rundiff(), "COLUMNS": "200"}
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p.endswith("src")))
    if (work / "setup").exists():
        subprocess.run(["bash", "setup"], cwd=work, env=env, check=False, capture_output=True, timeout=120)
    limit = LIMIT_S
    if (work / "timeout").exists():
        limit = max(LIMIT_S, float((work / "timeout").read_text()))
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", _command(work)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    err: list[bytes] = []
    pumps = [
        threading.Thread(target=lambda s=s, k=k: [k.append(c) for c in iter(lambda: s.read(65536), b"")])
        for s, k in ((proc.stdout, []), (proc.stderr, err))
    ]
    for t in pumps:
        t.start()
    peak, why = 0, ""
    while proc.poll() is None:
        time.sleep(0.05)
        peak = max(peak, _tree_rss(proc.pid))
        if time.monotonic() - started > limit:
            why = f"still running after {limit:.0f} s"
        elif peak > MEM_CAP:
            why = f"over {MEM_CAP >> 20} MiB"
        if why:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    seconds = time.monotonic() - started
    for t in pumps:
        t.join()
    subprocess.run(["chmod", "-R", "u+rwX", str(work)], check=False, capture_output=True)
    return Outcome(name, *_judge(name, proc.returncode, b"".join(err).decode("utf-8", "replace"), why), seconds, peak)


def _judge(name: str, code: int, text: str, why: str) -> tuple[bool, str]:
    last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
    if why:
        return False, why
    if "Traceback (most recent call last)" in text:
        return False, f"traceback: {last[:160]}"
    if code not in (0, 1, 2):
        return False, f"exit {code}: {last[:160]}"
    if name in LEAKED and code == 0:
        what, leaked = LEAKED[name]
        if leaked(text):
            return False, f"leaked ({what}): {last[:160]}"
    elif name[:1] in "AI" and text.strip() and code == 0:
        return False, f"leaked: {last[:160]}"
    errors = [ln for ln in text.splitlines() if ln.startswith("rundiff: error:")]
    if len(errors) > 1:
        return False, f"{len(errors)} error lines: {errors[0][:120]}"
    if errors and _CONTROL.search(errors[0]):
        return False, f"control characters in the error line: {errors[0][:120]!r}"
    return True, f"exit {code}"


def main(argv: list[str]) -> int:
    names = argv or cases()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            outcome = replay(name, Path(tmp))
            failed += not outcome.ok
            print(
                f"{'ok  ' if outcome.ok else 'FAIL'} {name:<48} {outcome.seconds:5.1f} s "
                f"{outcome.peak_rss >> 20:5d} MiB  {outcome.why}",
                flush=True,
            )
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
