"""Bounded reading and validation of a safetensors header (the only part of the file rundiff trusts).

The file is hostile until proven otherwise: every size read from it is capped before anything is
allocated, and the offsets are checked against each other and against the real file size. A file
that is cut short keeps its header usable: it is reported as ``truncated`` instead of refused.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections import namedtuple
from operator import itemgetter

from rundiff.errors import RundiffError
from rundiff.infer.dtypes import DTYPE_BITS, decode_scalar

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from os import PathLike

#: The safetensors reference implementation refuses larger headers (``MAX_HEADER_SIZE``).
MAX_HEADER_BYTES = 100_000_000
#: Real LoRAs have a few thousand tensors; parsing far more would cost hundreds of MB of Python objects.
MAX_TENSORS = 200_000
#: kohya writes about 150 metadata entries; a million (a 20 MB header) costs a minute downstream, not a LoRA's.
MAX_METADATA_ENTRIES = 10_000
#: A scalar worth reading (alpha, on_input) is at most one F64; anything larger is never read.
MAX_SCALAR_BYTES = 8
#: Offsets past this (256 TiB) cannot describe a real file, truncated or not.
MAX_DATA_BYTES = 2**48
#: No tensor of a real file has more elements than its bytes (checked before any arithmetic).
MAX_ELEMENTS = 2**51


class TensorInfo(namedtuple("TensorInfo", "name dtype shape begin end numel")):
    """One tensor entry of the header; offsets are relative to the start of the data buffer.

    A named tuple, not a dataclass: an SDXL file has ~3000 entries and this is the hot path of
    ``infer-rank``'s start-up budget.
    """

    __slots__ = ()
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets into the data buffer; end exclusive
    end: int
    numel: int


class SafetensorsHeader(
    namedtuple(
        "SafetensorsHeader",
        "path file_size header_size tensors metadata data_size truncated warnings",
        defaults=(False, ()),
    )
):
    """What a header proves, after validation (a named tuple: see :class:`TensorInfo`)."""

    __slots__ = ()
    path: str
    file_size: int
    header_size: int  # N, the JSON length
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] | None  # None when the file has no ``__metadata__``
    data_size: int  # bytes the header says the data buffer holds
    truncated: bool
    warnings: tuple[str, ...]

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    def available(self, t: TensorInfo) -> bool:
        """Whether the tensor's bytes are inside the file (not cut off by truncation)."""
        return self.data_start + t.end <= self.file_size


def _short(shape: list) -> str:
    text = str(shape)
    return text if len(text) <= 80 else text[:77] + "...]"


def _fail(path: str, message: str, key: str | None = None) -> RundiffError:
    return RundiffError(message, path, key=key)


def _parse_entry(path: str, name: str, entry: object) -> TensorInfo:
    """Validate one tensor entry; written as plain loops because SDXL files have ~3000 of them."""
    try:
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]  # type: ignore[index]
    except (TypeError, KeyError):
        raise _fail(path, "tensor entry is not an object with dtype, shape and data_offsets", name) from None
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if bits is None:
        raise _fail(path, f"unknown dtype {str(dtype)[:40]!r}", name)
    if type(shape) is not list or len(shape) > 16:
        raise _fail(path, "shape is not a list of at most 16 non-negative integers", name)
    numel = 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise _fail(path, "shape is not a list of non-negative integers", name)
        numel *= d
    if numel > MAX_ELEMENTS:  # checked before any float arithmetic on it (huge shapes overflow floats)
        raise _fail(path, f"shape {_short(shape)} has more elements than any data_offsets span can hold", name)
    if type(offsets) is not list or len(offsets) != 2:
        raise _fail(path, "data_offsets is not a pair [begin, end]", name)
    begin, end = offsets
    if type(begin) is not int or type(end) is not int or not 0 <= begin <= end:
        raise _fail(path, "data_offsets is not a pair [begin, end] with 0 <= begin <= end", name)
    if end > MAX_DATA_BYTES:
        raise _fail(path, f"data_offsets end {end} is beyond any real file", name)
    total_bits = numel * bits
    if total_bits % 8 or total_bits // 8 != end - begin:
        raise _fail(
            path, f"{dtype} {_short(shape)} needs {total_bits / 8:g} bytes but data_offsets span {end - begin}", name
        )
    return TensorInfo(name, dtype, tuple(shape), begin, end, numel)


def read_header(path: str | PathLike) -> SafetensorsHeader:
    """Read and validate the header of ``path``; raises RundiffError naming the file and key."""
    spath = str(path)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # a FIFO or device would block or never end
            raise _fail(spath, "not a regular file")
        with open(path, "rb") as fh:
            file_size = os.fstat(fh.fileno()).st_size
            if file_size < 8:
                raise _fail(spath, f"not a safetensors file: only {file_size} bytes")
            n = int.from_bytes(fh.read(8), "little")
            if n > MAX_HEADER_BYTES:
                raise _fail(spath, f"header length {n} exceeds the 100 MB safetensors limit (not a safetensors file?)")
            if 8 + n > file_size:
                raise _fail(
                    spath,
                    f"header length {n} is larger than the file ({file_size} bytes): "
                    "not a safetensors file, or cut off inside the header",
                )
            raw = fh.read(n)
    except OSError as err:
        raise _fail(spath, f"cannot read: {err.strerror or err}") from None
    if len(raw) != n:
        raise _fail(spath, "file shrank while reading the header")
    return parse_header(spath, raw, file_size)


def parse_header(path: str, raw: bytes, file_size: int) -> SafetensorsHeader:
    """Validate header bytes already read (``raw`` excludes the 8-byte length)."""
    n = len(raw)
    if not raw.lstrip(b" \t\r\n").startswith(b"{"):
        raise _fail(path, "header is not a JSON object (does not start with '{')")
    n_entries = raw.count(b'"data_offsets"')
    if n_entries > MAX_TENSORS:
        raise _fail(path, f"header lists {n_entries} tensors (more than {MAX_TENSORS}); not a LoRA")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _fail(path, f"header is not valid UTF-8 (byte {err.start})") from None
    try:
        obj = json.loads(text)
    except RecursionError:
        raise _fail(path, "header JSON is nested too deeply") from None
    except ValueError as err:
        raise _fail(path, f"header is not valid JSON: {err}") from None
    del text
    if not isinstance(obj, dict):
        raise _fail(path, "header JSON is not an object")
    metadata = obj.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _fail(path, "__metadata__ is not a map of strings to strings", "__metadata__")
    if metadata is not None and len(metadata) > MAX_METADATA_ENTRIES:
        raise _fail(
            path,
            f"__metadata__ has {len(metadata)} entries (more than {MAX_METADATA_ENTRIES}); "
            "not a training run's metadata",
            "__metadata__",
        )
    tensors = {name: _parse_entry(path, name, entry) for name, entry in obj.items()}
    del obj
    ordered = sorted(tensors.values(), key=_BY_OFFSETS)
    expected = 0
    for t in ordered:
        if t.begin < expected:
            raise _fail(path, f"data_offsets overlap another tensor (begin {t.begin} < {expected})", t.name)
        if t.begin > expected:
            raise _fail(path, f"hole in the data buffer before this tensor ({expected}..{t.begin})", t.name)
        expected = t.end
    data_size = expected
    truncated = 8 + n + data_size > file_size
    warnings: list[str] = []
    if truncated:
        warnings.append(f"file is truncated: header describes {8 + n + data_size} bytes, file has {file_size}")
    elif 8 + n + data_size < file_size:
        warnings.append(f"{file_size - 8 - n - data_size} trailing bytes after the last tensor")
    return SafetensorsHeader(path, file_size, n, tensors, metadata, data_size, truncated, tuple(warnings))


_BY_OFFSETS = itemgetter(3, 4)  # (begin, end) of a TensorInfo
#: dtype -> (struct letter, bytes) for decoding runs of scalars at once (BF16 is widened first).
_RUN_FORMAT = {"F16": ("e", 2), "F32": ("f", 4), "F64": ("d", 8), "BF16": ("bf16", 2)}


def _unpack_run(letter: str, chunk: bytes, n: int) -> tuple[float, ...]:
    if letter == "bf16":  # put each 2-byte value in the high half of a float32
        widened = bytearray(4 * n)
        widened[2::4] = chunk[0::2]
        widened[3::4] = chunk[1::2]
        return struct.unpack(f"<{n}f", widened)
    return struct.unpack(f"<{n}{letter}", chunk)


def read_scalars(header: SafetensorsHeader, names: list[str]) -> dict[str, float]:
    """Read the given scalar tensors with tiny seeks; skips tensors cut off or too large to be scalars.

    Adjacent scalars are read in one go, so a kohya file's alphas cost a few hundred 2-byte reads at
    most and usually far fewer.
    """
    wanted = sorted(
        (
            t
            for name in names
            if (t := header.tensors.get(name)) is not None
            and t.end - t.begin <= MAX_SCALAR_BYTES
            and t.numel == 1
            and header.available(t)
        ),
        key=lambda t: t.begin,
    )
    values: dict[str, float] = {}
    if not wanted:
        return values
    with open(header.path, "rb") as fh:
        i = 0
        while i < len(wanted):
            j = i
            while (
                j + 1 < len(wanted)
                and wanted[j + 1].begin == wanted[j].end
                and wanted[j + 1].end - wanted[i].begin <= 65536
            ):
                j += 1
            fh.seek(header.data_start + wanted[i].begin)
            chunk = fh.read(wanted[j].end - wanted[i].begin)
            run = wanted[i : j + 1]
            dtypes = {t.dtype for t in run}
            if len(dtypes) == 1 and (fmt := _RUN_FORMAT.get(next(iter(dtypes)))) and len(chunk) == len(run) * fmt[1]:
                # one struct call for a run of same-dtype scalars (kohya stores all alphas together)
                for t, value in zip(run, _unpack_run(fmt[0], chunk, len(run)), strict=True):
                    values[t.name] = value
            else:
                for t in run:
                    raw = chunk[t.begin - wanted[i].begin : t.end - wanted[i].begin]
                    value = decode_scalar(t.dtype, raw)
                    if value is not None:
                        values[t.name] = value
            i = j + 1
    return values
