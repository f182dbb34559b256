"""``rundiff infer-rank``: rank, alpha, format, base model and trainer of LoRA files, from their headers.

Parsed with argparse, not typer: this command's goal is to start about as fast as a bare Python
header read (see ``bench/infer_rank.py``), and importing typer alone costs more than the read.
"""

from __future__ import annotations

import argparse
import sys

PROG = "rundiff infer-rank"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Read rank, alpha, LoRA type, base architecture, trainer and training settings from the "
            "header of LoRA .safetensors files (folders: every LoRA in them; an epoch series is one "
            "table). --hash and --weights read the tensor data too."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE_OR_FOLDER", help="LoRA .safetensors files or folders.")
    p.add_argument("--size", help="Estimate the rank from a file size: 1.7GB, 72MB, 36MiB.")
    p.add_argument("--arch", help="With --size: sd1, sd2, sdxl, flux, sd3-medium, wan-14b, ...")
    p.add_argument("--dtype", help="With --size: F16, BF16 or F32.")
    p.add_argument("--unet-only", action="store_true", help="With --size: no text encoder modules.")
    p.add_argument("--json", dest="as_json", action="store_true", help="Print JSON (see docs in README).")
    p.add_argument(
        "--settings", action="store_true", help="Show the metadata as canonical training parameters (as compare does)."
    )
    p.add_argument("--hash", dest="hashes", action="store_true", help="Read the whole file: SHA-256, AutoV2, AutoV3.")
    p.add_argument(
        "--weights",
        action="store_true",
        help="Read the tensors one by one: per-block update norms, untrained/NaN tensors, effective rank.",
    )
    return p


def run(argv: list[str]) -> int:
    """Run the command; returns the exit code (0, or 2 for bad input)."""
    opts = parser().parse_args(argv)
    from rundiff.errors import RundiffError

    try:
        if opts.size is None and not opts.files:
            raise RundiffError("give one or more .safetensors files or folders, or --size")
        if opts.size is not None:
            if opts.files:
                raise RundiffError("give either files or --size, not both", key="--size")
            out = _size(opts)
        else:
            out = _files(opts)
    except RundiffError as err:
        from rundiff.infer.render import clean

        sys.stderr.write(f"rundiff: error: {clean(str(err))}\n")
        return 2
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


def _size(opts: argparse.Namespace) -> str:
    import json

    from rundiff.infer.render import render_size
    from rundiff.infer.sizes import size_report

    report = size_report(opts.size, arch=opts.arch, dtype=opts.dtype, unet_only=opts.unet_only)
    return json.dumps(report, indent=2) if opts.as_json else render_size(report)


def _files(opts: argparse.Namespace) -> str:
    import json

    from rundiff.infer.folders import inspect_paths
    from rundiff.infer.render import render_result

    result = inspect_paths(
        opts.files, hashes=opts.hashes, weights=opts.weights, settings=opts.settings or opts.as_json
    )
    for warning in result.warnings:
        from rundiff.infer.render import clean

        sys.stderr.write(f"rundiff: warning: {clean(warning)}\n")
    if opts.as_json:
        return json.dumps(result.to_json(), indent=2, allow_nan=False)
    return render_result(result)
