"""Size -> rank candidates, and the infer-rank command line end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rundiff.errors import RundiffError
from rundiff.infer.inventory import module_sets
from rundiff.infer.sizes import expected_size, parse_size, size_report
from rundiff.infer.synth import write_lora


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from rundiff.cli import main; main()", "infer-rank", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _has(report, **want):
    return any(all(c[k] == v for k, v in want.items()) for c in report["candidates"])


def test_expected_size_equals_a_written_file(tmp_path):
    ms = next(s for s in module_sets("sdxl") if s.name == "unet+te")
    p = write_lora(tmp_path / "x.safetensors", arch="sdxl", rank=128, alpha=128.0, dtype="F32")
    assert expected_size(ms, "F32", 128) == p.stat().st_size


def test_sdxl_1_7gb_lists_rank_128_fp32_and_the_fp16_tie():
    report = size_report("1.7GB", arch="sdxl")
    assert _has(report, rank=128, dtype="F32", module_set="unet+te", architecture="sdxl")
    assert _has(report, rank=256, dtype="F16/BF16", module_set="unet+te")
    assert report["note"].startswith("ambiguous")
    assert all(
        set(c) == {"rank", "dtype", "architecture", "module_set", "expected_size", "error"}
        for c in report["candidates"]
    )


def test_without_arch_the_ambiguity_is_stated():
    report = size_report("36MiB")
    archs = {c["architecture"] for c in report["candidates"]}
    assert "sd1" in archs and len(archs) > 1 and "give --arch" in report["note"]
    best = report["candidates"][0]
    assert (best["architecture"], best["rank"], best["module_set"]) == ("sd1", 32, "unet+te")


def test_exact_bytes_and_filters(tmp_path):
    p = write_lora(tmp_path / "x.safetensors", arch="sd15", rank=32, dtype="F16", metadata={"ss_seed": "1"})
    report = size_report(str(p.stat().st_size), arch="sd1", dtype="fp16")
    assert report["candidates"][0]["rank"] == 32 and abs(report["candidates"][0]["error"]) < 0.001
    assert all(c["dtype"] == "F16/BF16" for c in report["candidates"])
    unet = size_report("162MiB", arch="sdxl", unet_only=True)
    assert _has(unet, rank=32, module_set="unet", dtype="F16/BF16")
    assert all("te" not in c["module_set"] for c in unet["candidates"])


def test_parse_size_units():
    assert parse_size("1GiB").low < 2**30 < parse_size("1GiB").high
    q = parse_size("1.7GB")
    assert q.low < 1.7e9 and q.high > 1.7 * 2**30
    for bad in ("", "abc", "-5MB", "1.5"):
        with pytest.raises(RundiffError):
            parse_size(bad)


def test_cli_size_json_contract():
    proc = _cli("--size", "1.7GB", "--arch", "sdxl", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["size"] == "1.7GB" and isinstance(data["candidates"], list) and data["candidates"]


def test_cli_files_json_object_and_list(tmp_path):
    a = write_lora(tmp_path / "a.safetensors", arch="sd15", rank=8, alpha=4.0)
    b = write_lora(tmp_path / "b.safetensors", arch="flux", rank=16, alpha=16.0, dtype="BF16")
    one = json.loads(_cli(str(a), "--json").stdout)
    assert isinstance(one, dict) and one["rank"] == 8 and one["architecture"] == "sd1" and one["scale"] == 0.5
    both = json.loads(_cli(str(a), str(b), "--json").stdout)
    assert [x["architecture"] for x in both] == ["sd1", "flux"]
    human = _cli(str(b))
    assert human.returncode == 0 and "Flux.1" in human.stdout and "rank          16" in human.stdout


def test_cli_bad_size_and_no_heavy_imports():
    proc = _cli("--size", "lots")
    assert proc.returncode == 2 and proc.stderr.startswith("rundiff: error: [--size]")
    code = (
        "import sys; from rundiff.cli import infer_rank; import rundiff.infer.sizes, rundiff.infer.render;"
        "print(sorted(m for m in ('pandas','matplotlib','torch','tensorboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("arch", "rank", "dtype"),
    [
        ("wan-14b", 32, "BF16"),
        ("wan-1.3b", 16, "F16"),
        ("qwen-image", 16, "BF16"),
        ("z-image", 32, "BF16"),
        ("flux2-dev", 16, "BF16"),
        ("flux2-klein-4b", 8, "F32"),
        ("hunyuan-video", 32, "BF16"),
    ],
)
def test_size_tables_of_2026_models_invert_their_own_files(tmp_path, arch, rank, dtype):
    """A musubi-style file of each new module set gives back its rank from its size alone."""
    p = write_lora(tmp_path / "x.safetensors", arch=arch, rank=rank, alpha=1.0, dtype=dtype)
    report = size_report(str(p.stat().st_size), arch=arch)
    assert any(c["rank"] == rank and c["architecture"] == arch for c in report["candidates"]), report


def test_size_arch_without_a_module_table_is_a_clear_error():
    with pytest.raises(RundiffError, match="no module table"):
        size_report("100MB", arch="lumina2")
