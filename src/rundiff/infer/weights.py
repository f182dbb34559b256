"""What a LoRA's weights prove: update norms per block, untrained modules, NaN/inf, effective rank.

Reads tensor by tensor, by offset (never the whole file, never torch): memory stays bounded by
the largest factor matrix (capped at :data:`MAX_FACTOR_BYTES`), and big tensors are streamed in
chunks for the element checks. The update of a LoRA module is ``dW = (alpha / rank) * up @ down``;
its Frobenius norm and singular values come from the r x r Gram matrices ``upᵀup`` and
``down downᵀ`` (lora-files.md §6.2: ``‖BA‖²_F = Σ (BᵀB)∘(AAᵀ)``), so no out x in product is built.

Library API (``diagnose`` uses it for epoch checkpoints):

* :func:`weight_stats` (one file) -> :class:`WeightReport`
* :func:`weight_series` (files of one run, in save order) -> list of :class:`WeightReport`
* :func:`series_table` -> per-block norms across the series, one row per file
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from rundiff.errors import RundiffError
from rundiff.infer.formats import ModuleInfo, group_modules
from rundiff.infer.header import SafetensorsHeader, TensorInfo, read_header, read_scalars

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

    import numpy as np

#: Factor matrices above this are not loaded whole (their element checks still stream).
MAX_FACTOR_BYTES = 256 * 2**20
#: Element checks read big tensors in pieces of this size.
CHUNK_BYTES = 16 * 2**20
#: Effective rank is computed for this many modules with the largest update norms.
TOP_MODULES = 4

_NUMPY_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "bf16", "I8": "<i1", "U8": "<u1"}

#: Block words, most specific first: a module belongs to ``<word>.<index>`` (or the bare word).
_BLOCK = re.compile(
    r"(single_transformer_blocks|transformer_blocks|double_stream_blocks|single_stream_blocks"
    r"|double_blocks|single_blocks|joint_blocks|input_blocks|output_blocks|down_blocks|up_blocks"
    r"|noise_refiner|context_refiner|layers|blocks)[._](\d+)"
    r"|(mid_block|middle_block)"
)


def block_of(module: ModuleInfo) -> str:
    """``component:block`` of a module, e.g. ``unet:down_blocks.1``, ``te1:layers.11``, ``unet:double_blocks.4``."""
    flat = module.name.replace(".", "_")
    m = _BLOCK.search(flat)
    if m is None:
        return f"{module.component}:other"
    if m.group(3):
        return f"{module.component}:{m.group(3)}"
    return f"{module.component}:{m.group(1)}.{int(m.group(2))}"


@dataclass(frozen=True)
class TensorCheck:
    """Element facts of one tensor."""

    name: str
    norm: float  # Frobenius norm over the finite elements
    nonfinite: int  # NaN or +-inf elements
    all_zero: bool
    max_abs: float


@dataclass
class ModuleStats:
    """One adapted layer: the size of its update and whether it ever trained."""

    name: str
    block: str
    component: str
    algo: str
    rank: int | None
    alpha: float | None
    scale: float | None  # alpha / rank (1 when the file stores no alpha)
    delta_norm: float | None  # ‖scale · up @ down‖_F; None when not a plain LoRA module or unreadable
    zero_factor: str | None  # "up" or "down" when that factor is all zero: the update is exactly 0
    nonfinite: int  # NaN/inf elements over the module's tensors
    singular_values: list[float] | None = None  # of the update, for the TOP_MODULES largest only
    effective_rank: float | None = None  # exp(entropy of normalised singular values)

    @property
    def untrained(self) -> bool:
        return self.zero_factor is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "block": self.block,
            "algo": self.algo,
            "rank": self.rank,
            "scale": _finite(self.scale),
            "delta_norm": _finite(self.delta_norm),
            "zero_factor": self.zero_factor,
            "nonfinite": self.nonfinite,
            "effective_rank": _finite(self.effective_rank),
        }


@dataclass
class BlockStats:
    """Modules of one block together: ``norm`` = sqrt of the sum of their squared update norms."""

    block: str
    norm: float
    modules: int
    untrained: int
    nonfinite: int

    def to_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "norm": _finite(self.norm),
            "modules": self.modules,
            "untrained": self.untrained,
            "nonfinite": self.nonfinite,
        }


@dataclass
class WeightReport:
    """Everything :func:`weight_stats` proves about one file."""

    path: str
    modules: list[ModuleStats]
    blocks: list[BlockStats]
    nonfinite_tensors: list[str]
    unread: list[str] = field(default_factory=list)  # tensors cut off (truncated) or too large
    bytes_read: int = 0

    @property
    def total_norm(self) -> float | None:
        norms = [m.delta_norm for m in self.modules if m.delta_norm is not None]
        return math.sqrt(sum(n * n for n in norms)) if norms else None

    @property
    def untrained_modules(self) -> list[str]:
        return [m.name for m in self.modules if m.untrained]

    @property
    def never_trained(self) -> bool:
        """Every module's update is exactly zero: the LoRA changes nothing (training never stepped)."""
        return (
            bool(self.modules)
            and all(m.untrained for m in self.modules if m.algo == "lora")
            and any(m.algo == "lora" for m in self.modules)
        )

    @property
    def findings(self) -> list[str]:
        """One sentence per problem the weights prove."""
        out = []
        if self.never_trained:
            out.append(
                f"every one of the {len(self.modules)} modules has an all-zero "
                f"{self.modules[0].zero_factor} weight: this LoRA never trained (it changes nothing)"
            )
        elif self.untrained_modules:
            n = len(self.untrained_modules)
            out.append(
                f"{n} of {len(self.modules)} modules have an all-zero factor (never trained): "
                + ", ".join(self.untrained_modules[:3])
                + (" ..." if n > 3 else "")
            )
        if self.nonfinite_tensors:
            n = len(self.nonfinite_tensors)
            out.append(
                f"{n} tensors hold NaN/inf values: " + ", ".join(self.nonfinite_tensors[:3]) + (" ..." if n > 3 else "")
            )
        if self.unread:
            out.append(f"{len(self.unread)} tensors could not be read (truncated file or too large)")
        return out

    def top_modules(self) -> list[ModuleStats]:
        return [m for m in self.modules if m.effective_rank is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "total_norm": _finite(self.total_norm),
            "never_trained": self.never_trained,
            "untrained_modules": self.untrained_modules,
            "nonfinite_tensors": list(self.nonfinite_tensors),
            "unread_tensors": list(self.unread),
            "blocks": [b.to_json() for b in self.blocks],
            "top_modules": [m.to_json() for m in self.top_modules()],
            "findings": self.findings,
            "bytes_read": self.bytes_read,
        }


def _finite(x: float | None) -> float | str | None:
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return round(x, 6)


class _Reader:
    """Reads tensors of one file by offset; counts bytes; never more than one factor at a time."""

    def __init__(self, header: SafetensorsHeader) -> None:
        import numpy as np

        self.np = np
        self.header = header
        self.fh = open(header.path, "rb")  # noqa: SIM115 - closed by WeightReport building below
        self.bytes_read = 0
        self.checks: dict[str, TensorCheck] = {}

    def close(self) -> None:
        self.fh.close()

    def _decode(self, raw: bytes | bytearray, dtype: str) -> np.ndarray:
        np = self.np
        if dtype == "BF16":
            halves = np.frombuffer(raw, dtype="<u2")
            return (halves.astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype])

    def readable(self, t: TensorInfo) -> bool:
        return t.dtype in _NUMPY_DTYPES and self.header.available(t)

    def _read(self, begin: int, n: int) -> bytes:
        self.fh.seek(self.header.data_start + begin)
        raw = self.fh.read(n)
        if len(raw) != n:
            raise RundiffError("file shrank while reading its tensors", self.header.path)
        self.bytes_read += n
        return raw

    def check(self, t: TensorInfo) -> TensorCheck | None:
        """Element facts, streamed in chunks (any size)."""
        if t.name in self.checks:
            return self.checks[t.name]
        if not self.readable(t):
            return None
        np = self.np
        item = (t.end - t.begin) // max(t.numel, 1) or 1
        step = max(item, CHUNK_BYTES - CHUNK_BYTES % item)
        sq, bad, mx = 0.0, 0, 0.0
        for start in range(t.begin, t.end, step):
            values = self._decode(self._read(start, min(step, t.end - start)), t.dtype).astype(np.float64)
            finite = np.isfinite(values)
            n_bad = int(values.size - np.count_nonzero(finite))
            if n_bad:
                values = values[finite]
                bad += n_bad
            if values.size:
                sq += float(np.dot(values, values))
                mx = max(mx, float(np.max(np.abs(values))))
        check = TensorCheck(t.name, math.sqrt(sq), bad, bad == 0 and mx == 0.0, mx)
        self.checks[t.name] = check
        return check

    def matrix(self, t: TensorInfo, rows: int) -> np.ndarray | None:
        """The tensor as a float64 ``rows x rest`` matrix, or None when too large or unreadable."""
        if not self.readable(t) or t.end - t.begin > MAX_FACTOR_BYTES or t.numel == 0:
            return None
        values = self._decode(self._read(t.begin, t.end - t.begin), t.dtype).astype(self.np.float64)
        return values.reshape(rows, -1)


def _lora_factors(m: ModuleInfo) -> tuple[TensorInfo, TensorInfo] | None:
    up, down = m.tensors.get("up"), m.tensors.get("down")
    if m.algo != "lora" or up is None or down is None or "mid" in m.tensors or not m.rank:
        return None
    if len(up.shape) < 2 or len(down.shape) < 2 or up.shape[1] != down.shape[0]:
        return None
    return up, down


def _singular_values(np_: Any, gram_up: np.ndarray, gram_down: np.ndarray) -> list[float]:
    """Singular values of up @ down from the two r x r Gram matrices (σ² = eig(S G_up S), S = G_down^½)."""
    lam, vec = np_.linalg.eigh(gram_down)
    root = (vec * np_.sqrt(np_.clip(lam, 0, None))) @ vec.T
    sig2 = np_.linalg.eigvalsh(root @ gram_up @ root)
    return sorted((math.sqrt(max(float(s), 0.0)) for s in sig2), reverse=True)


def effective_rank(singular_values: list[float]) -> float | None:
    """exp(Shannon entropy of σ / Σσ) (Roy & Vetterli 2007): 1 for one direction, r for a flat spectrum."""
    total = sum(singular_values)
    if not total or not math.isfinite(total):
        return None
    h = -sum((s / total) * math.log(s / total) for s in singular_values if s > 0)
    return math.exp(h)


def weight_stats(source: str | os.PathLike | SafetensorsHeader, *, top_modules: int = TOP_MODULES) -> WeightReport:
    """Read every adapter tensor of one file and summarise what the weights prove.

    ``source`` is a path or an already validated header. Raises RundiffError for unreadable files.
    """
    header = source if isinstance(source, SafetensorsHeader) else read_header(source)
    modules, _ = group_modules(header.tensors)
    alphas = read_scalars(header, [m.tensors["alpha"].name for m in modules.values() if "alpha" in m.tensors])
    reader = _Reader(header)
    np = reader.np
    stats: list[ModuleStats] = []
    grams: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    unread: list[str] = []
    try:
        for m in modules.values():
            alpha = alphas.get(m.tensors["alpha"].name) if "alpha" in m.tensors else None
            scale = (alpha / m.rank) if alpha is not None and m.rank else (1.0 if m.rank else None)
            checks = {}
            for role, t in m.tensors.items():
                if role in ("alpha", "on_input"):
                    continue
                c = reader.check(t)
                if c is None:
                    unread.append(t.name)
                else:
                    checks[role] = c
            nonfinite = sum(c.nonfinite for c in checks.values())
            zero = next((r for r in ("up", "down") if r in checks and checks[r].all_zero), None)
            if zero is None and m.algo == "full" and "diff" in checks and checks["diff"].all_zero:
                zero = "diff"
            delta = None
            factors = _lora_factors(m)
            if zero is not None:
                delta = 0.0
            elif factors is not None and not nonfinite:
                up_t, down_t = factors
                up = reader.matrix(up_t, up_t.shape[0])
                down = reader.matrix(down_t, down_t.shape[0])
                if up is not None and down is not None:
                    up = up.reshape(up_t.shape[0], -1)  # conv up [out, r, 1, 1] -> out x r
                    g_up, g_down = up.T @ up, down @ down.T
                    delta = abs(scale or 1.0) * math.sqrt(max(float(np.sum(g_up * g_down)), 0.0))
                    grams[m.name] = (g_up, g_down, abs(scale or 1.0))
                    del up, down
            elif m.algo == "full" and "diff" in checks:
                delta = checks["diff"].norm
            stats.append(
                ModuleStats(m.name, block_of(m), m.component, m.algo, m.rank, alpha, scale, delta, zero, nonfinite)
            )
    finally:
        reader.close()
    ranked = sorted((s for s in stats if s.name in grams and s.delta_norm), key=lambda s: -(s.delta_norm or 0))
    for s in ranked[:top_modules]:
        g_up, g_down, scale = grams[s.name]
        s.singular_values = [scale * v for v in _singular_values(np, g_up, g_down)]
        s.effective_rank = effective_rank(s.singular_values)
    nonfinite_tensors = sorted(name for name, c in reader.checks.items() if c.nonfinite)
    return WeightReport(str(header.path), stats, _blocks(stats), nonfinite_tensors, unread, reader.bytes_read)


def _blocks(stats: list[ModuleStats]) -> list[BlockStats]:
    acc: dict[str, list[ModuleStats]] = {}
    for s in stats:
        acc.setdefault(s.block, []).append(s)
    out = []
    for block, members in acc.items():
        norms = [s.delta_norm for s in members if s.delta_norm is not None]
        out.append(
            BlockStats(
                block,
                math.sqrt(sum(n * n for n in norms)) if norms else math.nan,
                len(members),
                sum(s.untrained for s in members),
                sum(s.nonfinite for s in members),
            )
        )
    return sorted(out, key=lambda b: _block_order(b.block))


def _block_order(block: str) -> tuple[str, str, int]:
    comp, _, rest = block.partition(":")
    word, _, index = rest.partition(".")
    return comp, word, int(index) if index.isascii() and index.isdigit() else -1


def weight_series(paths: list[str | os.PathLike]) -> list[WeightReport]:
    """:func:`weight_stats` of each file, in the order given (pass a run's saves in save order)."""
    return [weight_stats(p) for p in paths]


def series_table(reports: list[WeightReport]) -> dict[str, Any]:
    """Per-block update norms across a series: ``{"blocks": [...], "rows": [{"path", "total_norm", "norms"}]}``.

    ``norms`` follows ``blocks``; a block a file lacks is None. ``change`` is the relative change of the
    total norm from the previous file (None for the first), the number to watch across epochs.
    """
    blocks = sorted({b.block for r in reports for b in r.blocks}, key=_block_order)
    rows = []
    previous = None
    for r in reports:
        by_block = {b.block: b.norm for b in r.blocks}
        total = r.total_norm
        change = None
        if previous and total is not None:
            change = (total - previous) / previous
        rows.append(
            {
                "path": r.path,
                "total_norm": _finite(total),
                "change": _finite(change),
                "never_trained": r.never_trained,
                "nonfinite_tensors": len(r.nonfinite_tensors),
                "norms": [_finite(by_block.get(b)) for b in blocks],
            }
        )
        previous = total
    return {"blocks": blocks, "rows": rows}
