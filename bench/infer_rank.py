"""Benchmark: ``rundiff infer-rank`` vs a bare header read vs loading the whole file, side by side.

Builds a sparse SDXL dim-128 fp32 kohya LoRA (~1.7 GB apparent size, almost no disk space) in a
temporary folder, then runs each contender as its own subprocess several times and reports the
median CPU time (user + system, from ``os.wait4`` rusage: robust on a shared machine, where wall
time mostly measures the neighbours), the median wall time and the peak RSS of each child.
rundiff and the bare read run interleaved (A, B, A, B, ...) so both see the same machine state.
Goals (issues 3 and 13): rundiff within 3x the CPU time of the bare header read, >= 20x faster
than the full load, peak memory under 100 MB.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rundiff.infer.synth import write_lora

BARE_HEADER = (
    "import json, sys\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    n = int.from_bytes(f.read(8), 'little')\n"
    "    h = json.loads(f.read(n))\n"
    "print(len(h))\n"
)
RUNDIFF = "import sys; from rundiff.cli import main; sys.argv = ['rundiff', *sys.argv[1:]]; main()"
IMPORT_ONLY = "import rundiff.cli.infer_rank"
IN_PROCESS = (
    "import sys, time, statistics\n"
    "from rundiff.infer import inspect_file\n"
    "ts = []\n"
    "for _ in range(7):\n"
    "    t = time.perf_counter(); inspect_file(sys.argv[1]); ts.append(time.perf_counter() - t)\n"
    "print(statistics.median(ts))\n"
)
FULL_TORCH = "import sys; from safetensors.torch import load_file; print(len(load_file(sys.argv[1])))"
FULL_NUMPY = "import sys; from safetensors.numpy import load_file; print(len(load_file(sys.argv[1])))"


#: Children may write and use .pyc files, as an installed rundiff does (pip compiles on install);
#: with PYTHONDONTWRITEBYTECODE set, every start would compile rundiff's sources again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(code: str, *args: str) -> tuple[float, int, float]:
    """(wall seconds, peak RSS bytes, CPU seconds) of one child Python process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {err.strip()[-500:]}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss is KiB on Linux


def report(label: str, runs: list[tuple[float, int, float]]) -> tuple[float, int, float]:
    wall = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    cpu = statistics.median(r[2] for r in runs)
    print(
        f"  {label:<44} CPU {cpu * 1000:7.1f} ms   wall {wall * 1000:7.1f} ms   "
        f"peak RSS {peak / 2**20:6.1f} MiB   ({len(runs)} runs, median)"
    )
    return wall, peak, cpu


def measure(label: str, code: str, *args: str, repeat: int) -> tuple[float, int, float]:
    return report(label, [run(code, *args) for _ in range(repeat)])


def side_by_side(a: tuple[str, ...], b: tuple[str, ...], repeat: int) -> tuple[list, list]:
    """Run A and B alternately, so that load on a shared machine hits both alike."""
    runs_a, runs_b = [], []
    for _ in range(repeat):
        runs_a.append(run(*a))
        runs_b.append(run(*b))
    return runs_a, runs_b


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sdxl_dim128_fp32.safetensors"
        meta = {
            "ss_network_module": "networks.lora",
            "ss_network_dim": "128",
            "ss_network_alpha": "128.0",
            "ss_base_model_version": "sdxl_base_v1-0",
            "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
        }
        write_lora(path, arch="sdxl", rank=128, alpha=128.0, dtype="F32", metadata=meta)
        st = path.stat()
        print(
            f"file: SDXL kohya LoRA dim 128 fp32, {st.st_size:,} bytes ({st.st_size / 2**30:.2f} GiB), "
            f"{st.st_blocks * 512 / 2**20:.1f} MiB on disk (sparse)"
        )
        run(RUNDIFF, "infer-rank", str(path))  # warm the page cache and .pyc files once
        run(BARE_HEADER, str(path))
        rundiff_runs, bare_runs = side_by_side((RUNDIFF, "infer-rank", str(path)), (BARE_HEADER, str(path)), repeat=15)
        rundiff_t, rundiff_mem, rundiff_cpu = report("rundiff infer-rank (end to end)", rundiff_runs)
        bare_t, bare_mem, bare_cpu = report("bare header read (python, json.loads)", bare_runs)
        measure("rundiff infer-rank --json", RUNDIFF, "infer-rank", "--json", str(path), repeat=5)
        measure("  of which: python + import rundiff.cli", IMPORT_ONLY, repeat=5)
        out = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(path)], capture_output=True, text=True, check=True
        ).stdout
        print(f"  {'  of which: inspect_file() in-process':<44} wall {float(out) * 1000:7.1f} ms (median of 7)")
        if importlib.util.find_spec("torch") is not None:
            label, code = "safetensors.torch.load_file", FULL_TORCH
        else:
            label, code = "safetensors.numpy.load_file (torch absent)", FULL_NUMPY
            print("  note: torch is not installed; the full load uses safetensors.numpy.load_file instead")
        full_t, full_mem, _ = measure(label, code, str(path), repeat=3)
        print()
        ratio = rundiff_cpu / bare_cpu
        print(f"rundiff / bare header read : {ratio:5.2f}x CPU time (goal <= 3x); wall {rundiff_t / bare_t:5.2f}x")
        print(f"full load / rundiff        : {full_t / rundiff_t:5.1f}x wall   (goal >= 20x)")
        print(
            f"rundiff peak memory        : {rundiff_mem / 2**20:5.1f} MiB (goal < 100 MB); "
            f"bare read {bare_mem / 2**20:.1f} MiB, full load {full_mem / 2**20:.1f} MiB"
        )
        ok = ratio <= 3 and full_t >= 20 * rundiff_t and rundiff_mem < 100e6
        print("all goals met" if ok else "NOT all goals met")


if __name__ == "__main__":
    main()
