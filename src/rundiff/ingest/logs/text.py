"""Training logs written as text: trainers' console output, tqdm bars, and lines people print themselves.

Read line by line (tqdm's ``\\r`` redraws split too), each line matched against:
- console blocks before training: sd-scripts/musubi (``num batches per epoch / ...: 508``),
  diffusers examples and SimpleTuner (``Num batches each epoch = 25``, ``Total optimization steps = 500``);
- tqdm bars with a postfix, of every trainer (``steps: 10%|# | 400/4000 [..., avr_loss=0.0912]``,
  ai-toolkit ``lr: 1.0e-04 loss: 4.123e-01``, OneTrainer ``loss=0.123, smooth loss=0.118``,
  SimpleTuner ``lr=0.0001, step_loss=0.0457``, diffusers ``loss=0.0457, lr=5e-5``);
- the end of a run (``model saved.``, a traceback, ``Training failed with exit code N``);
- free text of custom loops (``Epoch 1, Step 128: LR = 3.2e-7``, ``[LR] epoch=1 groups=['a', 'b']
  lr=[0.0, 0.0]``, ``[STEP] Δparam L2: median=0 max=0``, ``Epoch 001/030: train 0.217  val 1.921642``,
  ``FID: 453.22``, ``val loss: inf``).
A line that yields nothing is counted, not fatal. Every number passes through ``numbers`` first.
Every regex here is linear: possessive quantifiers, and lines are capped in ``reading``.
"""

from __future__ import annotations

import re
from pathlib import Path

from rundiff.ingest.logs import numbers
from rundiff.ingest.logs.keys import series_for
from rundiff.ingest.logs.model import Point, RunLogs
from rundiff.ingest.logs.reading import LogReadError, text_lines

NUM = r"[-+]?(?:(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?\d++)?|nan|inf(?:inity)?)"
COUNT = r"\d{1,30}+"
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,32}[A-Za-z]")

#: Console facts before training: fact name -> patterns (the number is group 1).
CONSOLE_FACTS: dict[str, tuple[re.Pattern[str], ...]] = {
    "num_train_images": (
        re.compile(rf"num train (?:images \* repeats|items)[^:]{{0,80}}:\s*({COUNT})"),
        re.compile(rf"\bNum examples\s*=\s*({COUNT})"),
    ),
    "num_batches_per_epoch": (
        re.compile(rf"num batches per epoch[^:]{{0,80}}:\s*({COUNT})"),
        re.compile(rf"\bNum batches(?: each epoch)?\s*=\s*({COUNT})"),
    ),
    "num_epochs": (re.compile(rf"num epochs[^:]{{0,80}}:\s*({COUNT})"), re.compile(rf"\bNum Epochs\s*=\s*({COUNT})")),
    "train_batch_size": (
        re.compile(rf"batch size per device[^:]{{0,80}}:\s*({COUNT})"),
        re.compile(rf"\bInstantaneous batch size per device\s*=\s*({COUNT})"),
    ),
    "gradient_accumulation_steps": (re.compile(rf"gradient accumulation steps[^=]{{0,80}}=\s*({COUNT})", re.I),),
    "total_steps": (re.compile(rf"total optimization steps[^:=]{{0,80}}[:=]\s*({COUNT})", re.I),),
}
_KOHYA_OVERRIDE = re.compile(rf"override steps\. steps for ({COUNT}) epochs is[^:]{{0,80}}:\s*({COUNT})")
#: Lines only sd-scripts' (and musubi-tuner's) train_network prints: its bilingual console block.
_KOHYA_BLOCK = re.compile(r"学習開始|num batches per epoch / 1epochのバッチ数|num train images \* repeats /")
_KOHYA_EPOCH = re.compile(rf"^\s*epoch ({COUNT})/({COUNT})\s*$")
_TQDM = re.compile(
    rf"^(?P<desc>[^|\[]{{0,200}}?):?\s*(?:\d{{1,3}}%\|[^|]{{0,200}}\|)?\s*"
    rf"(?P<n>{COUNT})/(?P<total>{COUNT})\s*\[(?P<inside>[^\]]{{0,2000}})\]"
)
_POSTFIX_PAIR = re.compile(rf"([A-Za-z_][\w/* ]{{0,60}}?)\s*[=:]\s*({NUM})(?![\w.])", re.I)
#: tqdm postfix keys -> series, where keys.yaml does not already say.
_POSTFIX_SERIES = {
    "avr_loss": "loss/average",
    "smooth loss": "loss/average",
    "smooth_loss": "loss/average",
    "val_epoch_avg_loss": "loss/validation",
}
_FINISHED = re.compile(
    r"\bmodel saved\.|Training has ended successfully|\b\d{1,6} completed job|"
    r"Training complete",
    re.I,
)
_FAILED = re.compile(
    r"^Traceback \(most recent call last\)|Training failed with exit code|"
    r"Job process terminated|\b\d{1,6} failure\(s\)|CUDA out of memory|Training loss became NaN"
)

_EPOCH = re.compile(rf"\bepoch\b\s*[:=#]?\s*({COUNT})(?:\s*/\s*({COUNT}))?", re.I)
_STEP = re.compile(rf"\b(?:global[_ ])?step\b\s*[:=#]?\s*({COUNT})", re.I)
_LR = re.compile(rf"\b(?:lr|learning[_ ]rate)\b\s*[:=]\s*(\[[^\]]{{0,2000}}\]|{NUM})", re.I)
_GROUPS = re.compile(r"\bgroups\s*[:=]\s*\[([^\]]{0,2000})\]", re.I)
_VAL_LOSS = re.compile(rf"\b(?:val|validation|eval)(?:[_ ]?loss)?\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_TRAIN_LOSS = re.compile(rf"\btrain(?:ing)?(?:[_ ]?loss)?\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_LOSS = re.compile(rf"(?<![\w/])loss\b\s*[:=]?\s*({NUM})(?![\w.])", re.I)
_PARAM_DELTA = re.compile(r"(?:Δ|delta[ _]?|d)param", re.I)
_DELTA_STAT = re.compile(rf"\b(median|max|mean|min)\s*[:=]\s*({NUM})", re.I)
_DELTA_PLAIN = re.compile(rf"param[^:=]{{0,200}}[:=]\s*({NUM})(?![\w.])", re.I)
_METRIC = re.compile(rf"\b(FID|SSIM|LPIPS|PSNR|CLIP[ _]?score)\b\s*[:=]\s*({NUM})", re.I)
_NUMBER = re.compile(NUM, re.I)
#: Warnings about unusable numbers, per file, before they are only counted.
MAX_VALUE_WARNINGS = 5


class _TextLogParser:
    """Walks the lines of one file, remembering the epoch the trainer last announced."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.logs = RunLogs(files=[source])
        self.epoch: int | None = None
        self.bad_numbers = 0

    def feed(self, line: str, number: int) -> None:
        line = _ANSI.sub("", line).strip()
        if not line:
            return
        self.logs.lines_read += 1
        where = f"{self.source}:{number}"
        if not (self._console(line, where) or self._free_text(line, where)):
            self.logs.lines_skipped += 1

    def _bad(self, where: str, what: str) -> None:
        self.bad_numbers += 1
        if self.bad_numbers <= MAX_VALUE_WARNINGS:
            self.logs.warnings.append(f"{where}: {what} is not a usable number; line not read")

    def _count(self, text: str, where: str, what: str) -> int | None:
        value = numbers.counter(text)
        if value is None:
            self._bad(where, what)
        return value

    def _add(self, name: str, text: str, where: str, step: int | None = None, epoch: int | None = None) -> bool:
        value = numbers.value(text)
        if value is None:
            self._bad(where, name)
            return False
        self.logs.add(name, Point(value, step=step, epoch=epoch if epoch is not None else self.epoch, source=where))
        return True

    def _fact(self, name: str, text: str, where: str, *, override: bool = False) -> bool:
        value = self._count(text, where, name)
        if value is None:
            return False
        if override or name not in self.logs.facts:
            self.logs.facts[name] = (value, where)
        return True

    def _console(self, line: str, where: str) -> bool:
        found = False
        for name, patterns in CONSOLE_FACTS.items():
            for pattern in patterns:
                match = pattern.search(line)
                if match:
                    found |= self._fact(name, match.group(1), where)
                    break
        if self.logs.trainer is None and _KOHYA_BLOCK.search(line):
            self.logs.trainer = ("sd-scripts", f"{where}: sd-scripts' console block ({line[:60]})")
        match = _KOHYA_OVERRIDE.search(line)
        if match:
            found |= self._fact("max_train_epochs", match.group(1), where)
            found |= self._fact("total_steps", match.group(2), where, override=True)
        match = _KOHYA_EPOCH.match(line)
        if match:
            epoch = self._count(match.group(1), where, "epoch")
            if epoch is not None:
                self.epoch = epoch
                self._fact("num_epochs", match.group(2), where)
            return True
        if _FINISHED.search(line):
            self.logs.finish = (True, where)
            found = True
        elif _FAILED.search(line):
            self.logs.finish = (False, where)
            found = True
        bar = _TQDM.search(line)
        if bar:
            found |= self._bar(bar, where)
        return found

    def _bar(self, bar: re.Match[str], where: str) -> bool:
        desc = bar.group("desc").strip().lower()
        if "validation" in desc or desc in ("epoch", "read caption", "caching latents") or not desc:
            return True  # validation passes, OneTrainer's outer epoch bar, set-up bars: no global step
        step = self._count(bar.group("n"), where, "step")
        total = self._count(bar.group("total"), where, "total steps")
        if step is None or total is None:
            return False
        postfix = bar.group("inside").split("/it", 1)[-1] if "/it" in bar.group("inside") else bar.group("inside")
        postfix = postfix.split("it/s", 1)[-1]
        pairs = _POSTFIX_PAIR.findall(postfix)
        if desc == "step":  # OneTrainer's inner bar counts batches of the current epoch
            self.logs.facts.setdefault("num_batches_per_epoch", (total, where))
            step = None
        else:
            self.logs.facts.setdefault("bar_total_steps", (total, where))
            self.logs.last_step = max(self.logs.last_step or 0, step)
            if step >= self.logs.facts.get("bar_last_step", (-1, ""))[0]:
                self.logs.facts["bar_last_step"] = (step, where)
        epoch_match = _EPOCH.search(desc)
        if epoch_match:
            self.epoch = numbers.counter(epoch_match.group(1)) or self.epoch
        for key, text in pairs:
            key = key.strip().lower()
            series = _POSTFIX_SERIES.get(key) or (hit.series if (hit := series_for(key)) else None)
            if series is not None:
                self._add(series, text, where, step=step)
        return True

    def _free_text(self, line: str, where: str) -> bool:
        epoch_match = _EPOCH.search(line)
        step_match = _STEP.search(line)
        epoch = step = None
        if epoch_match:
            epoch = self._count(epoch_match.group(1), where, "epoch")
            if epoch is None:
                return False
        if step_match:
            step = self._count(step_match.group(1), where, "step")
            if step is None:
                return False
        if epoch is not None:
            self.epoch = epoch
        found = False

        lr = _LR.search(line)
        if lr:
            found |= self._lrs(line, lr.group(1), where, step, epoch)
        if _PARAM_DELTA.search(line):
            stats = _DELTA_STAT.findall(line)
            for stat, value in stats:
                found |= self._add(f"param_delta/{stat.lower()}", value, where, step, epoch)
            if not stats:
                plain = _DELTA_PLAIN.search(line)
                if plain:
                    found |= self._add("param_delta/max", plain.group(1), where, step, epoch)
        for metric, value in _METRIC.findall(line):
            found |= self._add(f"metric/{metric.lower().replace(' ', '_')}", value, where, step, epoch)

        rest = line
        val = _VAL_LOSS.search(rest)
        if val:
            found |= self._add("loss/validation", val.group(1), where, step, epoch)
            rest = rest[: val.start()] + rest[val.end() :]
        train = _TRAIN_LOSS.search(rest) or _LOSS.search(rest)
        if train:
            per_epoch = step is None and epoch is not None
            found |= self._add("loss/epoch" if per_epoch else "loss/current", train.group(1), where, step, epoch)
        return found or (epoch is not None and step is None and len(line) < 40)

    def _lrs(self, line: str, text: str, where: str, step: int | None, epoch: int | None) -> bool:
        values = _NUMBER.findall(text) if text.startswith("[") else [text]
        if not values:
            return False
        groups_match = _GROUPS.search(line)
        names = [g.strip().strip("'\"") for g in groups_match.group(1).split(",")] if groups_match else []
        if len(values) == 1 and not names:
            return self._add("lr", values[0], where, step, epoch)
        found = False
        for index, value in enumerate(values[:64]):
            name = names[index] if index < len(names) and names[index] else f"group{index}"
            found |= self._add(f"lr/{name[:80]}", value, where, step, epoch)
        return found


def read_text_log(path: Path) -> RunLogs:
    """Every number a text log holds that rundiff knows how to read; an unreadable file is a warning."""
    parser = _TextLogParser(str(path))
    try:
        for number, line in text_lines(path, parser.logs.warnings):
            if line:
                parser.feed(line, number)
            else:
                parser.logs.lines_read += 1
                parser.logs.lines_skipped += 1
    except LogReadError as err:
        parser.logs.warnings.append(str(err))
        parser.logs.unreadable.append(str(path))
    if parser.bad_numbers > MAX_VALUE_WARNINGS:
        parser.logs.warnings.append(f"{path}: {parser.bad_numbers - MAX_VALUE_WARNINGS} more unusable numbers")
    return parser.logs


def looks_like_log(sample: str) -> bool:
    """Whether the start of a text file reads like a training log rather than a caption or a note."""
    hits = 0
    for line in sample.splitlines()[:2000]:
        if len(line) > 8192:
            continue
        if (
            _TQDM.search(line)
            or _LR.search(line)
            or _LOSS.search(line)
            or _VAL_LOSS.search(line)
            or _TRAIN_LOSS.search(line)
            or _PARAM_DELTA.search(line)
            or _KOHYA_EPOCH.match(line)
            or any(p.search(line) for ps in CONSOLE_FACTS.values() for p in ps)
        ):
            hits += 1
            if hits >= 2:
                return True
    return False
