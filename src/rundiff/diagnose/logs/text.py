"""Training logs written as text: kohya's console/tqdm output and the lines people print themselves.

Each line is matched against a few patterns (``Epoch 1, Step 128: LR = 3.2e-7``,
``[LR] epoch=1 groups=['backbone', 'head'] lr=[0.0, 0.0]``, ``[STEP] Δparam L2: median=0 max=0``,
``Epoch 001/030: train 0.217  val 1.921642``, ``FID: 453.22``, ``val loss: inf``, kohya's
``epoch 3/10`` header and tqdm ``avr_loss=``). A line that yields nothing is counted, not fatal.
tqdm redraws its bar with ``\\r``, so carriage returns split lines too.
"""

from __future__ import annotations

import re
from pathlib import Path

from rundiff.diagnose.logs.model import Point, RunLogs

#: Read at most this much of one text log.
MAX_TEXT_BYTES = 256 * 1024 * 1024

NUM = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: kohya ``accelerator.print`` lines before training: fact name -> pattern (the number is group 1).
KOHYA_FACTS = {
    "num_train_images": re.compile(r"num train images \* repeats[^:]*:\s*(\d+)"),
    "num_batches_per_epoch": re.compile(r"num batches per epoch[^:]*:\s*(\d+)"),
    "num_epochs": re.compile(r"num epochs[^:]*:\s*(\d+)"),
    "train_batch_size": re.compile(r"batch size per device[^:]*:\s*(\d+)"),
    "gradient_accumulation_steps": re.compile(r"gradient accumulation steps[^=]*=\s*(\d+)"),
    "total_steps": re.compile(r"total optimization steps[^:]*:\s*(\d+)"),
}
_KOHYA_OVERRIDE = re.compile(r"override steps\. steps for (\d+) epochs is[^:]*:\s*(\d+)")
_KOHYA_EPOCH = re.compile(r"^\s*epoch (\d+)/(\d+)\s*$")
_TQDM = re.compile(r"(\d+)/(\d+)\s*\[[^\]]*\]")
_AVR_LOSS = re.compile(rf"\bavr_loss\s*[=:]\s*({NUM})", re.I)
_VAL_EPOCH_AVG = re.compile(rf"\bval_epoch_avg_loss\s*=\s*({NUM})", re.I)

_EPOCH = re.compile(r"\bepoch\b\s*[:=#]?\s*(\d+)(?:\s*/\s*(\d+))?", re.I)
_STEP = re.compile(r"\b(?:global[_ ])?step\b\s*[:=#]?\s*(\d+)", re.I)
_LR = re.compile(rf"\b(?:lr|learning[_ ]rate)\b\s*[:=]\s*(\[[^\]]*\]|{NUM})", re.I)
_GROUPS = re.compile(r"\bgroups\s*[:=]\s*\[([^\]]*)\]", re.I)
_VAL_LOSS = re.compile(rf"\b(?:val|validation|eval)(?:[_ ]?loss)?\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_TRAIN_LOSS = re.compile(rf"\btrain(?:ing)?(?:[_ ]?loss)?\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_LOSS = re.compile(rf"(?<![\w/])loss\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_PARAM_DELTA = re.compile(r"(?:Δ|delta[ _]?|d)param", re.I)
_DELTA_STAT = re.compile(rf"\b(median|max|mean|min)\s*[:=]\s*({NUM})", re.I)
_DELTA_PLAIN = re.compile(rf"param[^:=]*[:=]\s*({NUM})(?![\w.])", re.I)
_METRIC = re.compile(rf"\b(FID|SSIM|LPIPS|PSNR|CLIP[ _]?score)\b\s*[:=]\s*({NUM})", re.I)
_NUMBER = re.compile(NUM, re.I)


def _number(text: str) -> float:
    return float(text.lower().replace("infinity", "inf"))


class _TextLogParser:
    """Walks the lines of one file, remembering the epoch the trainer last announced."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.logs = RunLogs(files=[source])
        self.epoch: int | None = None

    def feed(self, line: str, number: int) -> None:
        line = _ANSI.sub("", line).strip()
        if not line:
            return
        self.logs.lines_read += 1
        where = f"{self.source}:{number}"
        if not (self._kohya(line, where) or self._free_text(line, where)):
            self.logs.lines_skipped += 1

    def _add(self, name: str, value: float, where: str, step: int | None = None, epoch: int | None = None) -> None:
        self.logs.add(name, Point(value, step=step, epoch=epoch if epoch is not None else self.epoch, source=where))

    def _kohya(self, line: str, where: str) -> bool:
        found = False
        for name, pattern in KOHYA_FACTS.items():
            match = pattern.search(line)
            if match:
                self.logs.facts.setdefault(name, (int(match.group(1)), where))
                found = True
        match = _KOHYA_OVERRIDE.search(line)
        if match:
            self.logs.facts.setdefault("max_train_epochs", (int(match.group(1)), where))
            self.logs.facts["total_steps"] = (int(match.group(2)), where)
            found = True
        match = _KOHYA_EPOCH.match(line)
        if match:
            self.epoch = int(match.group(1))
            return True
        avr = _AVR_LOSS.search(line)
        bar = _TQDM.search(line)
        if avr:
            self._add("loss/average", _number(avr.group(1)), where, step=int(bar.group(1)) if bar else None)
            found = True
        val = _VAL_EPOCH_AVG.search(line)
        if val:
            self._add("loss/validation", _number(val.group(1)), where)
            found = True
        return found or bool(bar and "validation" in line)

    def _free_text(self, line: str, where: str) -> bool:
        epoch_match = _EPOCH.search(line)
        step_match = _STEP.search(line)
        epoch = int(epoch_match.group(1)) if epoch_match else None
        step = int(step_match.group(1)) if step_match else None
        if epoch is not None:
            self.epoch = epoch
        found = False

        lr = _LR.search(line)
        if lr:
            found |= self._lrs(line, lr.group(1), where, step, epoch)
        if _PARAM_DELTA.search(line):
            stats = _DELTA_STAT.findall(line)
            for stat, value in stats:
                self._add(f"param_delta/{stat.lower()}", _number(value), where, step, epoch)
            if not stats:
                plain = _DELTA_PLAIN.search(line)
                if plain:
                    self._add("param_delta/max", _number(plain.group(1)), where, step, epoch)
                    stats = [("max", plain.group(1))]
            found |= bool(stats)
        for metric, value in _METRIC.findall(line):
            self._add(f"metric/{metric.lower().replace(' ', '_')}", _number(value), where, step, epoch)
            found = True

        rest = line
        val = _VAL_LOSS.search(rest)
        if val:
            self._add("loss/validation", _number(val.group(1)), where, step, epoch)
            rest = rest[: val.start()] + rest[val.end():]
            found = True
        train = _TRAIN_LOSS.search(rest) or _LOSS.search(rest)
        if train:
            per_epoch = step is None and epoch is not None
            self._add("loss/epoch" if per_epoch else "loss/current", _number(train.group(1)), where, step, epoch)
            found = True
        return found or (epoch is not None and step is None and len(line) < 40)

    def _lrs(self, line: str, text: str, where: str, step: int | None, epoch: int | None) -> bool:
        values = [_number(v) for v in _NUMBER.findall(text)] if text.startswith("[") else [_number(text)]
        if not values:
            return False
        groups_match = _GROUPS.search(line)
        names = [g.strip().strip("'\"") for g in groups_match.group(1).split(",")] if groups_match else []
        if len(values) == 1 and not names:
            self._add("lr", values[0], where, step, epoch)
            return True
        for index, value in enumerate(values):
            name = names[index] if index < len(names) and names[index] else f"group{index}"
            self._add(f"lr/{name}", value, where, step, epoch)
        return True


def read_text_log(path: Path) -> RunLogs:
    """Every number a text log holds that rundiff knows how to read."""
    parser = _TextLogParser(str(path))
    with path.open("rb") as handle:
        data = handle.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        parser.logs.warnings.append(f"{path}: read only the first {MAX_TEXT_BYTES // (1024 * 1024)} MiB")
        data = data[:MAX_TEXT_BYTES]
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        for part in line.split("\r"):
            parser.feed(part, number)
    return parser.logs


def looks_like_log(sample: str) -> bool:
    """Whether the start of a text file reads like a training log rather than a caption or a note."""
    hits = 0
    for line in sample.splitlines()[:2000]:
        if (_AVR_LOSS.search(line) or _LR.search(line) or _LOSS.search(line) or _VAL_LOSS.search(line)
                or _TRAIN_LOSS.search(line) or _PARAM_DELTA.search(line) or _KOHYA_EPOCH.match(line)
                or any(p.search(line) for p in KOHYA_FACTS.values())):
            hits += 1
            if hits >= 2:
                return True
    return False
