"""A LoRA file's identity: the hashes model sites look files up by, and the ones trainers store.

From the header, free: sd-scripts/musubi/ai-toolkit's ``sshs_model_hash`` (SHA-256 of the tensor
data as saved; equals Civitai's AutoV3 while the tensors are untouched) and ``sshs_legacy_hash``,
and OneTrainer's ``modelspec.hash_sha256``. With ``--hash`` the whole file is streamed once:
SHA-256, AutoV2 (its first 10 hex, what Civitai shows), AutoV1 (64 KiB at 1 MiB, files >= 2 MiB)
and AutoV3 (SHA-256 of the bytes after the header). Reference: logs-and-metadata.md §2.10.
"""

from __future__ import annotations

from rundiff.errors import RundiffError
from rundiff.infer.header import SafetensorsHeader

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

READ_CHUNK = 1 << 20
#: SHA-256 of nothing: what sshs_legacy_hash holds for files under 1 MiB (reference §2.10.2).
EMPTY_LEGACY_HASH = "e3b0c442"
#: Civitai's scanner skips the header for AutoV3 only when it is shorter than this.
AUTOV3_MAX_HEADER = 16 * 2**20
AUTOV1_OFFSET, AUTOV1_SIZE, AUTOV1_MIN_FILE = 0x100000, 0x10000, 2 * 2**20

_HEX = frozenset("0123456789abcdef")


def _hex(value: str | None, length: int) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().lower().removeprefix("0x")
    return v if len(v) == length and set(v) <= _HEX else None


def header_hashes(metadata: dict[str, str]) -> dict[str, Any]:
    """The hashes a trainer wrote into ``__metadata__`` (free: no data read), validated as hex."""
    out: dict[str, Any] = {}
    model = metadata.get("sshs_model_hash")
    if model is not None:
        out["sshs_model_hash"] = _hex(model, 64) or model[:80]
    legacy = metadata.get("sshs_legacy_hash")
    if legacy is not None:
        out["sshs_legacy_hash"] = _hex(legacy, 8) or legacy[:80]
        if out["sshs_legacy_hash"] == EMPTY_LEGACY_HASH:
            out["sshs_legacy_hash_note"] = "hash of an empty window (file under 1 MiB when saved): not an identifier"
    onetrainer = metadata.get("modelspec.hash_sha256")
    if onetrainer is not None:
        out["modelspec.hash_sha256"] = _hex(onetrainer, 64) or onetrainer[:80]
    return out


def file_hashes(header: SafetensorsHeader) -> dict[str, Any]:
    """Stream the whole file once; SHA-256, AutoV1/V2/V3, and whether the stored hashes still match."""
    import hashlib

    full, data = hashlib.sha256(), hashlib.sha256()
    data_from = header.data_start if header.header_size < AUTOV3_MAX_HEADER else 8
    window = bytearray()
    pos = 0
    try:
        with open(header.path, "rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                full.update(chunk)
                end = pos + len(chunk)
                if end > data_from:
                    data.update(chunk[max(0, data_from - pos) :])
                if pos < AUTOV1_OFFSET + AUTOV1_SIZE and end > AUTOV1_OFFSET:
                    window += chunk[max(0, AUTOV1_OFFSET - pos) : AUTOV1_OFFSET + AUTOV1_SIZE - pos]
                pos = end
    except OSError as err:
        raise RundiffError(f"cannot read: {err.strerror or err}", header.path) from None
    sha = full.hexdigest()
    out: dict[str, Any] = {
        "sha256": sha.upper(),
        "autov2": sha[:10].upper(),
        "autov1": hashlib.sha256(bytes(window)).hexdigest()[:8].upper() if pos >= AUTOV1_MIN_FILE else None,
        "autov3": data.hexdigest().upper(),
        "bytes_hashed": pos,
    }
    stored = _hex((header.metadata or {}).get("sshs_model_hash"), 64)
    if stored is not None:
        out["sshs_model_hash_matches"] = stored.upper() == out["autov3"]
    if header.truncated:
        out["note"] = "file is truncated: these are hashes of the partial file"
    return out
