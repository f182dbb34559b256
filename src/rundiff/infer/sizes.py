"""From a file size alone to the (rank, dtype, module set) combinations that could have produced it.

``size = 8 + header + bytes_per_element * (rank * P + n_alpha)`` (reference §5.1), with P and the
header taken from the real module inventories, so every estimate is the size of a file that
:mod:`rundiff.infer.synth` would write. Size alone cannot separate e.g. fp32 rank r from fp16 rank
2r, so every combination inside the tolerance is returned, never a single guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from rundiff.errors import RundiffError
from rundiff.infer.inventory import WITH_INVENTORY, ModuleSet, canonical_arch, module_sets
from rundiff.infer.synth import build_header, lora_entries

#: Ranks people actually choose; when the tolerance admits many ranks only these are listed.
COMMON_RANKS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512)
#: Training metadata a file may carry on top of the tensors (kohya: a few KB up to ~100 KB).
METADATA_ALLOWANCE = 128 * 1024
#: Relative slack for sizes given in bytes or with many digits.
MIN_RELATIVE_TOLERANCE = 0.005
DTYPE_BYTES = {"F16": 2, "F32": 4}
#: Sizes above this (1 PiB) are refused before any arithmetic.
MAX_SIZE_BYTES = 2**50  # BF16 has the size of F16; reported as "F16/BF16"

_SIZE = re.compile(r"\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[kKmMgGtT]?i?[bB]?|bytes?)\s*\Z")
_BINARY = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


@dataclass(frozen=True)
class SizeQuery:
    """A size as the user typed it, with the byte interval it can mean."""

    text: str
    low: float
    high: float
    exact: int | None  # when given in bytes
    readings: tuple[float, ...] = ()  # the byte counts the text can mean (decimal and binary units)

    def error(self, expected: int) -> float:
        """Relative distance of ``expected`` from the nearest reading of the size."""
        return min(((r - expected) / expected for r in self.readings), key=abs)


def parse_size(text: str) -> SizeQuery:
    """Parse ``1.7GB``, ``72MB``, ``36 MiB``, ``37858552``. "GB"/"MB" may be decimal or binary.

    File managers (Windows Explorer, many web UIs) print binary sizes with decimal unit names, so a
    bare "GB" admits both readings; the digits given set the precision (1.7 means 1.65..1.75).
    """
    m = _SIZE.match(text) if len(text) <= 40 else None  # 400-digit sizes overflow floats: refused here
    if not m:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise RundiffError(f"cannot read size {shown!r}; use e.g. 1.7GB, 72MB, 36MiB or a byte count", key="--size")
    num_s, unit = m.group("num"), m.group("unit")
    value = float(num_s)
    if value <= 0:
        raise RundiffError(f"size must be positive: {text!r}", key="--size")
    if value * _BINARY.get(m.group("unit")[:1].lower(), 1) > MAX_SIZE_BYTES:
        raise RundiffError(f"size {text!r} is larger than any LoRA file (over 1 PiB)", key="--size")
    decimals = len(num_s.split(".", 1)[1]) if "." in num_s else 0
    half_step = 0.5 * 10**-decimals
    letter = unit[:1].lower()
    if letter in _BINARY:
        factors = [_BINARY[letter]] if "i" in unit.lower() else [_DECIMAL[letter], _BINARY[letter]]
    else:
        if decimals:
            raise RundiffError(f"a byte count must be whole: {text!r}", key="--size")
        n = int(num_s)
        return SizeQuery(text, n * (1 - MIN_RELATIVE_TOLERANCE), n * (1 + MIN_RELATIVE_TOLERANCE), n, (n,))
    if value < 10 and decimals == 0:  # "2GB": at least one more digit of slack than half a unit
        half_step = 0.5
    lows = [(value - half_step) * f for f in factors]
    highs = [(value + half_step) * f for f in factors]
    low, high = min(lows), max(highs)
    rel = MIN_RELATIVE_TOLERANCE * value * min(factors)
    return SizeQuery(
        text,
        min(low, value * min(factors) - rel),
        max(high, value * max(factors) + rel),
        None,
        tuple(value * f for f in factors),
    )


@dataclass(frozen=True)
class Candidate:
    rank: int
    dtype: str
    architecture: str
    module_set: str
    expected_size: int
    error: float  # (size - expected) / expected, for the reading of the size nearest to expected

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "dtype": self.dtype,
            "architecture": self.architecture,
            "module_set": self.module_set,
            "expected_size": self.expected_size,
            "error": round(self.error, 5),
        }


@cache
def _layout(ms: ModuleSet, dtype: str) -> tuple[int, int, int, int]:
    """(P linear, P conv, n_alpha, header bytes at rank 32) of a module set."""
    fmt = "diffusers" if ms.naming == "diffusers" else "kohya"
    entries = lora_entries(
        arch=ms.arch,
        rank=32,
        alpha=32.0,
        dtype=dtype,
        fmt=fmt,
        text_encoder=ms.text_encoder,
        conv_rank=32 if ms.conv else None,
        te_mlp_only=ms.te_mlp_only,
    )
    n_header = len(build_header(entries)[0])
    n_alpha = sum(1 for e in entries if e[3] is not None)
    return ms.linear_params_per_rank(), ms.conv_params_per_rank(), n_alpha, n_header


@cache
def expected_size(ms: ModuleSet, dtype: str, rank: int) -> int:
    """Bytes of a file of this module set at ``rank`` (conv rank = rank), without training metadata."""
    fmt = "diffusers" if ms.naming == "diffusers" else "kohya"
    entries = lora_entries(
        arch=ms.arch,
        rank=rank,
        alpha=float(rank),
        dtype=dtype,
        fmt=fmt,
        text_encoder=ms.text_encoder,
        conv_rank=rank if ms.conv else None,
        te_mlp_only=ms.te_mlp_only,
    )
    raw, scalars, data_size = build_header(entries)
    return 8 + len(raw) + data_size


def candidates(
    size: SizeQuery,
    *,
    arch: str | None = None,
    dtype: str | None = None,
    unet_only: bool = False,
    max_rank: int = 1024,
) -> list[Candidate]:
    """Every (rank, dtype, architecture, module set) whose expected size fits ``size``."""
    archs = [canonical_arch(arch)] if arch else list(WITH_INVENTORY)
    dtypes = [{"BF16": "F16"}.get(dtype.upper(), dtype.upper())] if dtype else list(DTYPE_BYTES)
    out: list[Candidate] = []
    for a in archs:
        for ms in module_sets(a):
            if unet_only and ms.text_encoder:
                continue
            for dt in dtypes:
                p_lin, p_conv, n_alpha, n_header = _layout(ms, dt)
                b = DTYPE_BYTES[dt]
                fixed = 8 + n_header + b * n_alpha
                per_rank = b * (p_lin + p_conv)
                r_lo = max(1, math.ceil((size.low - METADATA_ALLOWANCE - fixed) / per_rank))
                r_hi = min(max_rank, math.floor((size.high - fixed) / per_rank))
                fitting = list(range(r_lo, r_hi + 1))
                if len(fitting) > 2:  # the size is too vague to pin a rank: only ranks people choose
                    fitting = [r for r in fitting if r in COMMON_RANKS]
                for r in fitting:
                    exp = expected_size(ms, dt, r)
                    out.append(Candidate(r, "F16/BF16" if dt == "F16" else dt, a, ms.name, exp, size.error(exp)))
    out.sort(key=lambda c: (c.rank not in COMMON_RANKS, abs(c.error)))
    return out


def size_report(size_text: str, *, arch: str | None = None, dtype: str | None = None, unet_only: bool = False) -> dict:
    """The ``--size --json`` object: ``{"size", "candidates": [...]}`` plus an ambiguity note."""
    if dtype and dtype.upper() not in ("F16", "BF16", "F32", "FP16", "FP32"):
        raise RundiffError(f"unknown dtype {dtype!r}; use F16, BF16 or F32", key="--dtype")
    dtype = {"FP16": "F16", "FP32": "F32"}.get(dtype.upper(), dtype.upper()) if dtype else None
    if arch:
        try:
            arch = canonical_arch(arch)
        except KeyError:
            raise RundiffError(
                f"unknown architecture {arch!r}; known: {', '.join(WITH_INVENTORY)}", key="--arch"
            ) from None
        if arch not in WITH_INVENTORY:
            raise RundiffError(f"no module table for {arch!r} yet; known: {', '.join(WITH_INVENTORY)}", key="--arch")
    query = parse_size(size_text)
    found = candidates(query, arch=arch, dtype=dtype, unet_only=unet_only)
    archs = sorted({c.architecture for c in found})
    note = None
    if not found:
        note = "no known LoRA layout fits this size (LoKr, block-dims or unusual module sets do not follow rank)"
    elif len(archs) > 1:
        note = f"ambiguous: sizes of {', '.join(archs)} LoRAs all fit; give --arch to narrow"
    elif len({(c.rank, c.dtype, c.module_set) for c in found}) > 1:
        note = "ambiguous: several rank/dtype/module-set combinations fit (fp32 rank r = fp16 rank 2r)"
    return {
        "size": size_text,
        "size_bytes": [int(query.low), int(query.high)],
        "candidates": [c.to_json() for c in found],
        "note": note,
    }
