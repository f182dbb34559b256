"""safetensors dtype strings: element widths and decoding of the tiny scalars rundiff reads."""

from __future__ import annotations

import math
import struct

#: Bits per element, from the safetensors ``Dtype`` enum (reference §1.3).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

_STRUCT = {
    "F16": "<e",
    "F32": "<f",
    "F64": "<d",
    "I8": "<b",
    "U8": "<B",
    "I16": "<h",
    "U16": "<H",
    "I32": "<i",
    "U32": "<I",
    "I64": "<q",
    "U64": "<Q",
    "BOOL": "<?",
}


def decode_scalar(dtype: str, raw: bytes) -> float | None:
    """Decode one little-endian scalar; None for dtypes a LoRA alpha is never stored in."""
    if dtype == "BF16":
        return struct.unpack("<f", b"\x00\x00" + raw[:2])[0]
    fmt = _STRUCT.get(dtype)
    if fmt is None or len(raw) != struct.calcsize(fmt):
        return None
    return float(struct.unpack(fmt, raw)[0])


def encode_scalar(dtype: str, value: float) -> bytes:
    """Encode a scalar the way torch would save it in ``dtype`` (BF16 truncated to its top half)."""
    if dtype == "BF16":
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        if not math.isnan(value):  # round to nearest even, as torch does
            bits += 0x7FFF + ((bits >> 16) & 1)
        return struct.pack("<H", (bits >> 16) & 0xFFFF)
    return struct.pack(_STRUCT[dtype], value)
