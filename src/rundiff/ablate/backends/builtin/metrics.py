"""Per-step metrics written as CSV and TensorBoard events into the variant folder.

TensorBoard gets sd-scripts' own tags with sd-scripts' meaning (``lr/unet`` is ``get_last_lr()`` after the
step), so ``rundiff diagnose`` reads a builtin variant like a kohya run; the CSV and the ``rundiff/*`` tags
hold what the update really used.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from .lora import LoRANetwork

STEP_CSV = "metrics.csv"
VALIDATION_CSV = "validation.csv"
TB_DIR = "logs"


@torch.no_grad()
def per_module_movement(network: LoRANetwork) -> dict[str, dict[str, float]]:
    out = {}
    for lora in network.all_loras():
        delta = float(lora.delta_weight().float().norm())
        base = float(lora.org_weight.float().norm())
        out[lora.lora_name] = {"dw": delta, "dw_rel": delta / base if base else float("nan")}
    return out


class MetricsWriter:
    """One CSV row and a handful of TensorBoard scalars per optimizer update."""

    def __init__(self, out_dir: Path, lr_keys: list[str]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.lr_keys = lr_keys
        self.columns = [
            "step",
            "epoch",
            "loss",
            "loss_avg",
            *[f"lr/{k}" for k in lr_keys],
            "grad_norm",
            "dw",
            "dw_rel",
            "wall_time_s",
        ]
        self._step_file = (out_dir / STEP_CSV).open("w", newline="", encoding="utf-8")
        self._steps = csv.writer(self._step_file)
        self._steps.writerow(self.columns)
        self._val_file = (out_dir / VALIDATION_CSV).open("w", newline="", encoding="utf-8")
        self._val = csv.writer(self._val_file)
        self._val.writerow(["step", "val_loss", "val_loss_ema"])
        self.tb = SummaryWriter(log_dir=str(out_dir / TB_DIR / "network_train"))

    def step(self, row: dict[str, float], last_lrs: dict[str, float]) -> None:
        self._steps.writerow([_fmt(row.get(c)) for c in self.columns])
        step = int(row["step"])
        self.tb.add_scalar("loss/current", row["loss"], step)
        self.tb.add_scalar("loss/average", row["loss_avg"], step)
        for key, value in last_lrs.items():  # kohya's tags: lr after scheduler.step()
            self.tb.add_scalar(f"lr/{key}", value, step)
        for key in self.lr_keys:
            self.tb.add_scalar(f"rundiff/lr_applied/{key}", row[f"lr/{key}"], step)
        self.tb.add_scalar("rundiff/grad_norm", row["grad_norm"], step)
        self.tb.add_scalar("rundiff/dw", row["dw"], step)
        self.tb.add_scalar("rundiff/dw_rel", row["dw_rel"], step)

    def validation(self, step: int, loss: float, loss_ema: float | None) -> None:
        self._val.writerow([step, _fmt(loss), _fmt(loss_ema)])
        self.tb.add_scalar("loss/validation", loss, step)
        if loss_ema is not None:
            self.tb.add_scalar("rundiff/val_loss_ema", loss_ema, step)

    def close(self) -> None:
        self._step_file.close()
        self._val_file.close()
        self.tb.close()


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
