"""--weights: what the tensors prove, checked against numpy on small real files (written by safetensors)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from rundiff.infer import inspect_file
from rundiff.infer.folders import inspect_paths
from rundiff.infer.weights import block_of, effective_rank, series_table, weight_series, weight_stats

RNG = np.random.default_rng(0)
MODULES = {  # kohya names of an SD1 UNet block, a text encoder layer and a 3x3 conv (LoCon)
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q": (320, 320, 0),
    "lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_ff_net_2": (2560, 640, 0),
    "lora_te_text_model_encoder_layers_3_mlp_fc1": (768, 3072, 0),
    "lora_unet_down_blocks_1_resnets_0_conv1": (320, 640, 3),
}


def _lora(rank: int = 4, alpha: float = 2.0, scale_up: float = 0.01, dtype=np.float32, zero_up=False, nan_in=None):
    tensors, ups, downs = {}, {}, {}
    for name, (fan_in, fan_out, k) in MODULES.items():
        down = RNG.standard_normal((rank, fan_in, k, k) if k else (rank, fan_in)).astype(dtype)
        up = (
            np.zeros((fan_out, rank, 1, 1) if k else (fan_out, rank), dtype)
            if zero_up
            else (RNG.standard_normal((fan_out, rank, 1, 1) if k else (fan_out, rank)) * scale_up).astype(dtype)
        )
        if nan_in == name:
            up.flat[3] = np.nan
        tensors[f"{name}.lora_down.weight"], tensors[f"{name}.lora_up.weight"] = down, up
        tensors[f"{name}.alpha"] = np.array(alpha, dtype)
        ups[name], downs[name] = up, down
    return tensors, ups, downs


def _expected_norm(up, down, scale):
    return float(
        np.linalg.norm(
            scale
            * (up.reshape(up.shape[0], -1).astype(np.float64) @ down.reshape(down.shape[0], -1).astype(np.float64))
        )
    )


def test_update_norms_match_numpy(tmp_path):
    tensors, ups, downs = _lora(rank=4, alpha=2.0)
    save_file(tensors, tmp_path / "x.safetensors")
    report = weight_stats(tmp_path / "x.safetensors")
    by_name = {m.name: m for m in report.modules}
    for name in MODULES:
        assert by_name[name].delta_norm == pytest.approx(_expected_norm(ups[name], downs[name], 0.5), rel=1e-9)
        assert not by_name[name].untrained and by_name[name].nonfinite == 0
    total = math.sqrt(sum(_expected_norm(ups[n], downs[n], 0.5) ** 2 for n in MODULES))
    assert report.total_norm == pytest.approx(total, rel=1e-9)
    assert not report.never_trained and report.findings == []
    assert {b.block for b in report.blocks} == {
        "unet:down_blocks.0",
        "unet:up_blocks.1",
        "te1:layers.3",
        "unet:down_blocks.1",
    }
    assert report.bytes_read > 0


def test_effective_rank_from_the_gram_matrices(tmp_path):
    tensors, ups, downs = _lora(rank=8, alpha=8.0)
    name = "lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_ff_net_2"
    # make this module's update rank 1: every up column the same direction
    col = RNG.standard_normal((640, 1)).astype(np.float32)
    tensors[f"{name}.lora_up.weight"] = np.repeat(col, 8, axis=1)
    save_file(tensors, tmp_path / "x.safetensors")
    report = weight_stats(tmp_path / "x.safetensors", top_modules=len(MODULES))
    by_name = {m.name: m for m in report.modules}
    assert by_name[name].effective_rank == pytest.approx(1.0, abs=1e-3)
    full = by_name["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]
    sv = np.linalg.svd(_dense(tensors, full.name), compute_uv=False)
    assert full.singular_values[:8] == pytest.approx(list(sv[:8]), rel=1e-6)
    assert 6 < full.effective_rank <= 8


def _dense(tensors, name):
    up = tensors[f"{name}.lora_up.weight"].astype(np.float64)
    down = tensors[f"{name}.lora_down.weight"].astype(np.float64)
    return (
        float(tensors[f"{name}.alpha"]) / down.shape[0] * up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)
    )


def test_effective_rank_bounds():
    assert effective_rank([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert effective_rank([2.0, 2.0, 2.0, 2.0]) == pytest.approx(4.0)
    assert effective_rank([]) is None and effective_rank([0.0]) is None


def test_all_zero_up_is_never_trained_both_ways(tmp_path):
    tensors, _, _ = _lora(zero_up=True)
    save_file(tensors, tmp_path / "zero.safetensors")
    report = weight_stats(tmp_path / "zero.safetensors")
    assert report.never_trained and report.total_norm == 0.0
    assert "never trained" in report.findings[0]
    assert all(m.zero_factor == "up" for m in report.modules)
    # one module trained, the others not: a partial finding, not "never trained"
    tensors2, _, _ = _lora()
    name = next(iter(MODULES))
    tensors[f"{name}.lora_up.weight"] = tensors2[f"{name}.lora_up.weight"]
    save_file(tensors, tmp_path / "partial.safetensors")
    partial = weight_stats(tmp_path / "partial.safetensors")
    assert not partial.never_trained and len(partial.untrained_modules) == len(MODULES) - 1


def test_comfyui_zero_down_counts_as_untrained(tmp_path):
    """ComfyUI's trainer starts lora_down at zero (reference §2.6), the reverse of kohya."""
    tensors, _, _ = _lora()
    for name in MODULES:
        tensors[f"{name}.lora_down.weight"] = np.zeros_like(tensors[f"{name}.lora_down.weight"])
    save_file(tensors, tmp_path / "c.safetensors")
    report = weight_stats(tmp_path / "c.safetensors")
    assert report.never_trained and {m.zero_factor for m in report.modules} == {"down"}


def test_nan_and_inf_are_found(tmp_path):
    name = "lora_te_text_model_encoder_layers_3_mlp_fc1"
    tensors, _, _ = _lora(nan_in=name)
    tensors[f"{name}.lora_down.weight"].flat[0] = np.inf
    save_file(tensors, tmp_path / "nan.safetensors")
    report = weight_stats(tmp_path / "nan.safetensors")
    assert report.nonfinite_tensors == [f"{name}.lora_down.weight", f"{name}.lora_up.weight"]
    bad = next(m for m in report.modules if m.name == name)
    assert bad.nonfinite == 2 and bad.delta_norm is None
    assert any("NaN/inf" in f for f in report.findings)
    json.dumps(report.to_json(), allow_nan=False)
    clean, _, _ = _lora()
    save_file(clean, tmp_path / "clean.safetensors")
    assert weight_stats(tmp_path / "clean.safetensors").nonfinite_tensors == []


@pytest.mark.parametrize("dtype", ["F16", "BF16"])
def test_half_precision_files(tmp_path, dtype):
    tensors, ups, downs = _lora(dtype=np.float32)
    if dtype == "F16":
        half = {k: v.astype(np.float16) for k, v in tensors.items()}
        save_file(half, tmp_path / "h.safetensors")
        ref = {k: v.astype(np.float64) for k, v in half.items()}
    else:  # write bf16 by hand: the top halves of the float32 bits
        from rundiff.infer.synth import write_safetensors  # noqa: F401  (layout reference)

        header, blobs, offset = {}, [], 0
        for k, v in tensors.items():
            bits = (v.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            header[k] = {"dtype": "BF16", "shape": list(v.shape), "data_offsets": [offset, offset + bits.nbytes]}
            blobs.append(bits.tobytes())
            offset += bits.nbytes
        raw = json.dumps(header).encode()
        (tmp_path / "h.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(blobs))
        ref = {
            k: (v.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32).astype(np.float64)
            for k, v in tensors.items()
        }
    report = weight_stats(tmp_path / "h.safetensors")
    name = next(iter(MODULES))
    scale = float(ref[f"{name}.alpha"]) / 4
    want = _expected_norm(ref[f"{name}.lora_up.weight"], ref[f"{name}.lora_down.weight"], scale)
    assert next(m for m in report.modules if m.name == name).delta_norm == pytest.approx(want, rel=1e-9)


def test_large_tensors_are_streamed_not_loaded(tmp_path, monkeypatch):
    import rundiff.infer.weights as w

    tensors, ups, downs = _lora()
    save_file(tensors, tmp_path / "x.safetensors")
    monkeypatch.setattr(w, "CHUNK_BYTES", 1024)  # many chunks per tensor: same numbers
    report = weight_stats(tmp_path / "x.safetensors")
    name = next(iter(MODULES))
    assert next(m for m in report.modules if m.name == name).delta_norm == pytest.approx(
        _expected_norm(ups[name], downs[name], 0.5), rel=1e-9
    )
    monkeypatch.setattr(w, "MAX_FACTOR_BYTES", 1024)  # factors over the cap: no norm, no crash
    capped = weight_stats(tmp_path / "x.safetensors")
    assert all(m.delta_norm is None for m in capped.modules) and not capped.never_trained


def test_truncated_file_reports_unread_tensors(tmp_path):
    tensors, _, _ = _lora()
    save_file(tensors, tmp_path / "x.safetensors")
    raw = (tmp_path / "x.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) // 2])
    report = weight_stats(tmp_path / "cut.safetensors")
    assert report.unread and any("could not be read" in f for f in report.findings)


def test_block_names():
    from rundiff.infer.formats import ModuleInfo

    def block(name, component="unet"):
        return block_of(ModuleInfo(name, component, "lora", "kohya"))

    assert block("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q") == "unet:input_blocks.4"
    assert block("lora_unet_double_blocks_7_img_attn_qkv") == "unet:double_blocks.7"
    assert block("diffusion_model.blocks.12.self_attn.q") == "unet:blocks.12"
    assert (
        block("transformer.single_transformer_blocks.3.proj_mlp", "transformer")
        == "transformer:single_transformer_blocks.3"
    )
    assert block("lora_unet_mid_block_attentions_0_proj_in") == "unet:mid_block"
    assert block("lora_unet_conv_in") == "unet:other"


def test_epoch_series_one_row_per_epoch(tmp_path):
    paths = []
    for epoch, scale in enumerate((0.001, 0.01, 0.02), start=1):
        tensors, _, _ = _lora(scale_up=scale)
        p = tmp_path / f"run-{epoch:06d}.safetensors"
        save_file(tensors, p, metadata={"ss_epoch": str(epoch)})
        paths.append(p)
    final, _, _ = _lora(scale_up=0.03)
    save_file(final, tmp_path / "run.safetensors")
    reports = weight_series(paths)
    table = series_table(reports)
    assert [r["path"] for r in table["rows"]] == [str(p) for p in paths]
    totals = [r["total_norm"] for r in table["rows"]]
    assert totals == sorted(totals) and table["rows"][0]["change"] is None and table["rows"][1]["change"] > 1
    assert len(table["blocks"]) == 4 and all(len(r["norms"]) == 4 for r in table["rows"])
    # the folder as a series: one table, epochs in order, the final save last
    result = inspect_paths([tmp_path], weights=True)
    assert len(result.series) == 1
    members = result.series[0].members
    assert [n.epoch for n, _ in members] == [1, 2, 3, None] and members[-1][0].final


def test_cli_weights_and_folder(tmp_path):
    for epoch in (1, 2):
        tensors, _, _ = _lora(scale_up=0.01 * epoch)
        save_file(tensors, tmp_path / f"run-{epoch:06d}.safetensors")
    zero, _, _ = _lora(zero_up=True)
    save_file(zero, tmp_path / "other.safetensors")
    proc = subprocess.run(
        [sys.executable, "-m", "rundiff", "infer-rank", str(tmp_path), "--weights"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 saves" in proc.stdout and "per-block update norms" in proc.stdout
    assert "never trained" in proc.stdout
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "rundiff", "infer-rank", str(tmp_path), "--weights", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert isinstance(data, list) and len(data) == 3
    assert {d["series"]["stem"] for d in data} == {"run", "other"}
    assert all(d["weights"]["blocks"] for d in data)
    header_only = inspect_file(tmp_path / "other.safetensors")
    assert header_only.weights is None
