"""Hostile and broken files: one clear RundiffError or a correct answer; no traceback, no big allocation."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import pytest

from rundiff.errors import RundiffError
from rundiff.infer import inspect_file
from rundiff.infer.header import read_header


def _raw(path, header: bytes, data: bytes = b"", length: int | None = None):
    n = len(header) if length is None else length
    path.write_bytes(n.to_bytes(8, "little") + header + data)
    return path


def _entry(dtype="F16", shape=(2,), begin=0, end=4):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


def _json(path, obj, data=b""):
    return _raw(path, json.dumps(obj).encode(), data)


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("len2_63", lambda p: _raw(p, b"{}", length=2**63), "exceeds the 100 MB"),
        ("len_max", lambda p: _raw(p, b"{}", length=2**64 - 1), "exceeds the 100 MB"),
        ("bigger_than_file", lambda p: _raw(p, b'{"a": 1}', length=5000), "larger than the file"),
        ("tiny", lambda p: p.write_bytes(b"\x01\x02"), "only 2 bytes"),
        ("not_utf8", lambda p: _raw(p, b'{"\xff\xfe": 1}'), "not valid UTF-8"),
        ("bad_json", lambda p: _raw(p, b'{"a": '), "not valid JSON"),
        ("not_object", lambda p: _raw(p, b"[1, 2]"), "does not start with '{'"),
        ("deep", lambda p: _raw(p, b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"), "JSON"),
        ("meta_not_str", lambda p: _json(p, {"__metadata__": {"ss_network_dim": 32}}), "__metadata__"),
        ("meta_list", lambda p: _json(p, {"__metadata__": ["x"]}), "__metadata__"),
        (
            "overlap",
            lambda p: _json(p, {"a.alpha": _entry(begin=0, end=4), "b.alpha": _entry(begin=2, end=6)}, b"\0" * 6),
            "overlap",
        ),
        ("hole", lambda p: _json(p, {"a": _entry(begin=4, end=8)}, b"\0" * 8), "hole"),
        (
            "size_mismatch",
            lambda p: _json(p, {"a": _entry(shape=(3,), begin=0, end=4)}, b"\0" * 4),
            "needs 6 bytes",
        ),
        ("bad_dtype", lambda p: _json(p, {"a": _entry(dtype="F128")}, b"\0" * 4), "unknown dtype"),
        ("neg_shape", lambda p: _json(p, {"a": _entry(shape=(-2,))}, b"\0" * 4), "non-negative"),
        (
            "bad_offsets",
            lambda p: _json(p, {"a": {"dtype": "F16", "shape": [2], "data_offsets": [4, 0]}}),
            "data_offsets",
        ),
        (
            "huge_shape",
            lambda p: _json(p, {"a": _entry(shape=(2**40, 2**40), begin=0, end=2**81)}),
            "data_offsets",
        ),
    ],
)
def test_hostile_headers_raise_one_clear_error(tmp_path, name, make, needle):
    p = tmp_path / f"{name}.safetensors"
    make(p)
    tracemalloc.start()
    with pytest.raises(RundiffError) as exc:
        inspect_file(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert needle in str(exc.value)
    assert str(exc.value).startswith(str(p))
    assert peak < 50 * 2**20


def test_error_names_the_key(tmp_path):
    p = _json(tmp_path / "k.safetensors", {"lora_unet_x.alpha": _entry(dtype="F99")}, b"\0" * 4)
    with pytest.raises(RundiffError) as exc:
        read_header(p)
    assert exc.value.key == "lora_unet_x.alpha" and "[lora_unet_x.alpha]" in str(exc.value)


def test_offsets_past_the_end_report_truncated(tmp_path):
    header = {
        "lora_unet_a.alpha": _entry(begin=0, end=2, shape=()),
        "lora_unet_a.lora_down.weight": _entry(shape=(4, 320), begin=2, end=2 + 4 * 320 * 2),
        "lora_unet_a.lora_up.weight": _entry(shape=(320, 4), begin=2562, end=2562 + 2560),
    }
    header["lora_unet_a.alpha"]["shape"] = []
    p = _json(tmp_path / "t.safetensors", header, b"\x00\x44" + b"\0" * 100)  # alpha = 4.0 in F16
    info = inspect_file(p)
    assert info.truncated and info.rank == 4 and info.alpha == 4.0


def test_million_tiny_tensors_clear_error_fast(tmp_path):
    n = 1_000_000
    parts = [f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(n)]
    header = ("{" + ",".join(parts) + "}").encode()
    p = tmp_path / "many.safetensors"
    with open(p, "wb") as fh:
        fh.write(len(header).to_bytes(8, "little"))
        fh.write(header)
        fh.truncate(8 + len(header) + n)
    del parts, header
    tracemalloc.start()
    with pytest.raises(RundiffError, match="1000000 tensors"):
        inspect_file(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 150 * 2**20  # the header bytes (bounded by the 100 MB cap), no per-tensor objects


def test_many_tiny_tensors_under_the_cap_work(tmp_path):
    n = 50_000
    parts = [
        f'"lora_unet_m{i}.alpha":{{"dtype":"F16","shape":[],"data_offsets":[{2 * i},{2 * i + 2}]}}' for i in range(n)
    ]
    header = ("{" + ",".join(parts) + "}").encode()
    p = tmp_path / "alphas.safetensors"
    p.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * (2 * n))
    info = inspect_file(p)
    assert info.format == "unknown" and info.n_tensors == n and not info.truncated


def test_cli_prints_one_line_and_exits_2(tmp_path):
    p = _raw(tmp_path / "bad.safetensors", b"{}", length=2**63)
    proc = subprocess.run(
        [sys.executable, "-c", "from rundiff.cli import main; main()", "infer-rank", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"rundiff: error: {p}")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
