"""Write the one sample file too big to commit: SD15_bespoke_baby's LoRA (72 MB, sparse on disk).

Run once after installing rundiff:  python sample_runs/build.py
It writes an SD1.5 kohya LoRA at network_dim 64, alpha 32, fp16, with the real key names and
shapes, zero weights and no metadata, the way the seed describes the only file that survived.
"""

from __future__ import annotations

from pathlib import Path

from rundiff.infer.synth import write_lora

HERE = Path(__file__).resolve().parent


def build(root: Path = HERE) -> Path:
    target = root / "SD15_bespoke_baby" / "bespoke_baby_sd15.safetensors"
    if not target.exists():
        write_lora(target, arch="sd15", rank=64, alpha=32.0, dtype="F16", fmt="kohya", metadata=None)
    return target


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB apparent, sparse)")
