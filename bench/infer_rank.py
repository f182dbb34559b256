"""Benchmark: ``rundiff infer-rank`` vs a bare header read vs loading the whole file, side by side.

Builds a sparse SDXL dim-128 fp32 kohya LoRA (~1.7 GB apparent size, almost no disk space) in a
temporary folder, then runs each contender as its own subprocess several times and reports the
median wall time and the peak RSS of each child (``os.wait4`` rusage, so peaks are per process).
Goals (issue 3): rundiff within 3x of the bare header read, >= 20x faster than the full load,
peak memory under 100 MB.
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
IMPORT_ONLY = "import rundiff.cli"
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


def run(code: str, *args: str) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child Python process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {err.strip()[-500:]}")
    return wall, usage.ru_maxrss * 1024  # ru_maxrss is KiB on Linux


def measure(label: str, code: str, *args: str, repeat: int) -> tuple[float, int]:
    runs = [run(code, *args) for _ in range(repeat)]
    wall = statistics.median(w for w, _ in runs)
    peak = max(p for _, p in runs)
    print(f"  {label:<44} {wall * 1000:9.1f} ms   peak RSS {peak / 2**20:7.1f} MiB   ({repeat} runs, median)")
    return wall, peak


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
        rundiff_t, rundiff_mem = measure(
            "rundiff infer-rank (end to end)", RUNDIFF, "infer-rank", str(path), repeat=7
        )
        json_t, _ = measure("rundiff infer-rank --json", RUNDIFF, "infer-rank", "--json", str(path), repeat=5)
        import_t, _ = measure("  of which: python + import rundiff.cli", IMPORT_ONLY, repeat=5)
        out = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(path)], capture_output=True, text=True, check=True
        ).stdout
        print(f"  {'  of which: inspect_file() in-process':<44} {float(out) * 1000:9.1f} ms   (median of 7)")
        bare_t, bare_mem = measure("bare header read (python, json.loads)", BARE_HEADER, str(path), repeat=7)
        if importlib.util.find_spec("torch") is not None:
            label, code = "safetensors.torch.load_file", FULL_TORCH
        else:
            label, code = "safetensors.numpy.load_file (torch absent)", FULL_NUMPY
            print("  note: torch is not installed; the full load uses safetensors.numpy.load_file instead")
        full_t, full_mem = measure(label, code, str(path), repeat=3)
        print()
        print(f"rundiff / bare header read : {rundiff_t / bare_t:5.2f}x   (goal <= 3x)")
        print(f"full load / rundiff        : {full_t / rundiff_t:5.1f}x   (goal >= 20x)")
        print(
            f"rundiff peak memory        : {rundiff_mem / 2**20:5.1f} MiB (goal < 100 MB); "
            f"bare read {bare_mem / 2**20:.1f} MiB, full load {full_mem / 2**20:.1f} MiB"
        )
        ok = rundiff_t <= 3 * bare_t and full_t >= 20 * rundiff_t and rundiff_mem < 100e6
        print("all goals met" if ok else "NOT all goals met")


if __name__ == "__main__":
    main()
