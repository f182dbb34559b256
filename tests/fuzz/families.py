"""The parser families the fuzzer drives in-process, each as a target taking one input's bytes.

A target writes the bytes where rundiff expects such a file (in a fresh folder of its own) and
calls the library the way the command line does, through to normalisation; the renderer families
go on to diagnose and render every format. What a target returns does not matter: only whether it
returns, raises RundiffError, raises anything else, runs too long or takes too much memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import seeds as seed_data

Target = Callable[[bytes, Path], object]


@dataclass(frozen=True)
class Family:
    name: str
    target: Target
    tokens: tuple[bytes, ...] = ()
    #: relative cost: the short run gives a family inputs in inverse proportion
    weight: float = 1.0


# -- shared steps ---------------------------------------------------------------------------------


def _load(path: Path):
    from rundiff.api import load_run

    return load_run(path)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _baseline(folder: Path) -> Path:
    run = folder / "base"
    run.mkdir()
    (run / "launch.sh").write_text(seed_data.LAUNCH)
    return run


def _diagnose(runs):
    from rundiff.diagnose.engine import diagnose_runs

    return diagnose_runs(runs)


def _render_diagnosis(diagnosis, formats=("text", "json", "md", "html")) -> None:
    from rundiff import api

    for fmt in formats:
        api.render(diagnosis, fmt)


# -- targets --------------------------------------------------------------------------------------


def _file_target(name: str) -> Target:
    def target(data: bytes, folder: Path) -> object:
        return _load(_write(folder, name, data))

    return target


def _yaml_or_json_in_folder(name: str) -> Target:
    """The file alone, and inside a run folder beside a launch script (where errors become warnings)."""

    def target(data: bytes, folder: Path) -> object:
        path = _write(folder, name, data)
        run = _baseline(folder)
        (run / name).write_bytes(data)
        _load(run)
        return _load(path)

    return target


def _safetensors(data: bytes, folder: Path) -> object:
    """What compare reads from a LoRA (metadata, weights facts), and infer-rank's inspection and report."""
    from rundiff import api
    from rundiff.errors import RundiffError
    from rundiff.infer import inspect_file

    path = _write(folder, "lora.safetensors", data)
    try:
        info = api.inspect_lora(path)
    except RundiffError:
        pass
    else:
        api.render(info, "text")
        api.render(info, "json")
        full = inspect_file(path, hashes=True, weights=True, settings=True)  # --hash --weights --settings
        api.render(full, "text")
        api.render(full, "json")
    return _load(path)


def _materialise_folder(spec: bytes, root: Path) -> None:
    """A dataset folder from a line-based spec: `path[=caption text]`, `@fifo path`, `@link path -> target`,
    `@chmod0 path`, `@sparse path`. Paths stay inside root; names may be any bytes but NUL and `/`."""
    root.mkdir(parents=True, exist_ok=True)
    made = 0
    for line in spec.split(b"\n")[:400]:
        op, _, rest = line.partition(b" ") if line.startswith(b"@") else (b"", b"", line)
        name, _, content = rest.partition(b"=") if op == b"" else (rest, b"", b"")
        target = b""
        if op == b"@link":
            name, _, target = rest.partition(b" -> ")
        parts = [p for p in name.replace(b"\x00", b"").split(b"/") if p not in (b"", b".", b"..")][:40]
        if not parts:
            continue
        path = root.joinpath(*(os.fsdecode(p[:255]) for p in parts))
        if os.path.lexists(path):
            continue  # writing into a FIFO or link made by an earlier line would block the harness itself
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if op == b"@fifo":
                os.mkfifo(path)
            elif op == b"@link":
                os.symlink(os.fsdecode(target.replace(b"\x00", b"")[:255]) or ".", path)
            elif op == b"@sparse":
                with path.open("wb") as handle:
                    handle.truncate(3 * 1024**3)
            else:
                path.write_bytes(content)
                if op == b"@chmod0":
                    path.chmod(0)
        except (OSError, ValueError):
            continue
        made += 1
        if made > 200:
            break


def _dataset_folder(data: bytes, folder: Path) -> object:
    run = folder / "run"
    _materialise_folder(data, run / "img")
    (run / "launch.sh").write_text(seed_data.LAUNCH)  # --train_data_dir=img
    loaded = _load(run)
    _render_diagnosis(_diagnose([loaded]), ("text",))
    return loaded


def _log_target(name: str) -> Target:
    def target(data: bytes, folder: Path) -> object:
        run = _baseline(folder)
        _write(run, name, data)
        loaded = _load(run)
        _render_diagnosis(_diagnose([loaded]), ("text", "json"))
        return loaded

    return target


def _diagnose_target(data: bytes, folder: Path) -> object:
    run = folder / "run"
    run.mkdir()
    _write(run, "config.toml", data)
    diagnosis = _diagnose([_load(run)])
    _render_diagnosis(diagnosis, ("text", "json"))
    return diagnosis


def _reports(data: bytes, folder: Path) -> object:
    """compare (diagnosis included) and diagnose of a baseline and the input's run, in every format,
    through the one render layer the CLI uses; the run's folder name carries markup of its own."""
    from rundiff import api

    run = folder / "run\u202e<b>$x$\x1b[31m"
    run.mkdir()
    _write(run, "config.toml", data)
    paths = [_baseline(folder), run]
    comparison = api.compare(paths)
    for fmt in ("text", "md", "html", "json", "csv"):
        api.render(comparison, fmt)
    diagnosis = api.diagnose(paths)
    for fmt in ("text", "md", "html", "json"):
        api.render(diagnosis, fmt)
    return comparison


def _plots(data: bytes, folder: Path) -> object:
    from rundiff.diagnose.plots import diagnosis_plots

    run = folder / "$\\nosuch$ run"
    run.mkdir()
    text = data.split(b"\n--log--\n", 1)
    _write(run, "config.toml", text[0])
    if len(text) > 1:
        _write(run, "train.log", text[1])
    diagnosis = _diagnose([_load(run)])
    return diagnosis_plots(diagnosis)


ABLATE_BASE = (
    "accelerate launch train_network.py --pretrained_model_name_or_path=/models/sd15.safetensors "
    "--network_module=networks.lora --network_dim=16 --network_alpha=8 --learning_rate=1e-4 "
    "--lr_scheduler=cosine --lr_warmup_steps=100 --max_train_steps=1000 --train_batch_size=2 "
    "--optimizer_type=AdamW8bit --resolution=512 --seed 42\n"
)


def _cli(args: list[str], env: dict[str, str]) -> object:
    """One command line, in-process as the console script runs it: exit 0 or 1 is ok, exit 2 (the
    one-line error) a clean refusal, any other exit or exception a crash. BROWSER=true: `open` never
    starts a real browser."""
    from rundiff.cli import main
    from rundiff.errors import RundiffError

    env = {"BROWSER": "true", **env}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        main(args)
    except SystemExit as done:
        if done.code == 2:
            raise RundiffError(f"rundiff {args[0]} exited 2") from None
        if done.code not in (None, 0, 1):
            raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return None


def _other_run(folder: Path) -> Path:
    run = folder / "other"
    run.mkdir()
    (run / "launch.sh").write_text(seed_data.LAUNCH.replace("--network_dim=16", "--network_dim=32"))
    return run


def _run_yaml(data: bytes, folder: Path) -> object:
    """A run's own `rundiff.yaml` (name, outcome, metrics: they reach every report) beside its script,
    compared with another run through the command line, ranked by its metric."""
    base, run = _baseline(folder), _other_run(folder)
    _write(run, "rundiff.yaml", data)
    env = {"RUNDIFF_NO_CONFIG": "1"}
    _cli(["compare", str(base), str(run), "--metric", "score", "-o", str(folder / "out.md")], env)
    _cli(["compare", str(base), str(run), "--all", "-o", str(folder / "out.html")], env)
    return _cli(["compare", str(base), str(run), "--format", "csv"], env)


def _project_config(data: bytes, folder: Path) -> object:
    """A project's `rundiff.toml` (option defaults, rule thresholds) under compare and diagnose."""
    config = _write(folder, "rundiff.toml", data)
    base, other = _baseline(folder), _other_run(folder)
    env = {"RUNDIFF_CONFIG": str(config)}
    _cli(["compare", str(base), str(other)], env)
    _cli(["compare", str(base), str(other), "-o", str(folder / "out.json")], env)
    return _cli(["diagnose", str(base), "-o", str(folder / "diag.md")], env)


def _ablate_plan(data: bytes, folder: Path) -> object:
    from rundiff import api

    lines = data.decode("utf-8", "replace").split("\n")
    name, values = lines[0], [v for v in lines[1:] if v][:50]
    base = folder / "base"
    base.mkdir()  # a known total, so the planner can keep the base run's warmup fraction at any horizon
    (base / "launch.sh").write_text(ABLATE_BASE)
    plan = api.plan_ablation(base, [name], values=values or None, steps=10)
    return plan.to_json()


# -- the families -------------------------------------------------------------------------------

SHELL_TOKENS = (
    b"${X:-",
    b"${X%%*}",
    b"${X##*/}",
    b"${X//a/b}",
    b"${X/#/x}",
    b"${#X}",
    b"${!X}",
    b"${X:1:2}",
    b"$((",
    b"))",
    b"$((2**62*4))",
    b"$((1/0))",
    b"$((1<<64))",
    b"$((-9223372036854775808/-1))",
    b"$(",
    b"`",
    b"<<EOF\n",
    b"\nEOF\n",
    b"<<'EOF'\n",
    b"a[",
    b"]=",
    b"+=(",
    b'"${A[@]}"',
    b"$@",
    b"$0",
    b'$(dirname "$0")',
    b"export ",
    b"declare -a ",
    b"set -- ",
    b"\\\n",
    b"eval ",
    b"source ",
    b"--config_file ",
    b"--dataset_config ",
    b"--network_dim=",
    b"--learning_rate ",
    b" \\\n  --",
    b"python -m accelerate.commands.launch ",
    b"train_network.py ",
    b"if [ ",
    b"; then ",
    b"fi\n",
    b"for i in 1 2 3; do ",
    b"done\n",
    b"case $X in a) ",
    b";; esac\n",
    b"function f() { ",
    b"}\n",
)
PS_TOKENS = (
    b"$env:",
    b"@(",
    b"@{",
    b"`\n",
    b"$(",
    b"[int]",
    b"$null",
    b"$true",
    b"-join ",
    b"+=",
    b" -f ",
    b'@"\n',
    b'\n"@',
    b"${",
    b"[string]::Join(",
    b"Join-Path ",
    b"--network_dim ",
    b"& ",
    b"$PSScriptRoot",
)
BAT_TOKENS = (
    b"%",
    b"%%",
    b"!",
    b"^\n",
    b"set /a ",
    b"set ",
    b"%~dp0",
    b"%DIM:~0,1%",
    b"%X:a=b%",
    b"call ",
    b"setlocal EnableDelayedExpansion\n",
    b"if defined X ",
    b"goto :eof\n",
    b":label\n",
    b"REM ",
    b"--network_dim=",
    b"2147483647",
    b"*",
    b"<<",
)
TOML_TOKENS = (
    b"[[datasets]]\n",
    b"[[datasets.subsets]]\n",
    b"[general]\n",
    b"dataset_config = ",
    b"image_dir = ",
    b"num_repeats = ",
    b"= [",
    b"= {",
    b"'''",
    b'"""',
    b"\\u0000",
    b"1979-05-27T07:32:00Z",
    b"07:32:00",
    b"1979-05-27",
    b"inf",
    b"nan",
    b"0x7fffffffffffffff",
    b"a.b.c = ",
    b"\n[t" + b".t" * 200 + b"]\n",  # tables nested by a dotted header: no bracket to count
    b"k" + b".k" * 200 + b" = ",
    b"learning_rate = ",
    b"network_args = [",
    b"lr_scheduler_num_cycles = ",
)
JSON_TOKENS = (
    b"[",
    b"{",
    b'"LoRA_type": ',
    b'"lr_warmup": ',
    b'"network_dim": ',
    b'"learning_rate": ',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"\\ud800",
    b"\\u0000",
    b"null",
    b"true",
    b'"datasets": [',
    b'"": ',
    b'"__proto__": ',
    b'"epoch": ',
    b'"sdxl": ',
    b'"optimizer_args": ',
)
YAML_TOKENS = (
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!float ",
    b"!!int ",
    b"!!timestamp ",
    b"!!binary ",
    b"!!set ",
    b"!!python/object:os.system ",
    b"!!str ",
    b"? ",
    b"- ",
    b": ",
    b"|\n",
    b">\n",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"%TAG ",
    b"~",
    b".nan",
    b".inf",
    b"0o17",
    b"1:20:30",
    b"2001-12-14t21:59:43.10-05:00",
    b"[",
    b"{",
    b"lr: ",
    b"learning_rate: ",
)
LOG_TOKENS = (
    b"steps: ",
    b"%|",
    b"| ",
    b"/",
    b" [",
    b"it/s, ",
    b"avr_loss=",
    b"loss=",
    b"lr=",
    b"lr/unet=",
    b"epoch ",
    b"epoch 1/",
    b"step ",
    b"val_loss",
    b"\r",
    b"\x1b[A",
    b"nan",
    b"inf",
    b"total optimization steps / ",
    b"num epochs / ",
    b"num train images * repeats / ",
    b"batch size",
    b"Wall time,Step,Value\n",
    b"step,loss,lr\n",
    b",",
    b'{"step": ',
    b'"loss": ',
    b"}\n",
)
SAFETENSORS_TOKENS = (
    b'"__metadata__":',
    b'"ss_network_dim":"',
    b'"ss_datasets":"',
    b'"ss_dataset_dirs":"',
    b'"dtype":"F16"',
    b'"dtype":"BF16"',
    b'"dtype":"F8_E4M3"',
    b'"dtype":"XX"',
    b'"shape":[',
    b'"data_offsets":[',
    b"18446744073709551615",
    b"-1",
    b'\\"',
    b"\\\\",
    b"lora_down",
    b"lora_up",
    b".alpha",
    b"hada_w1_a",
    b"lokr_w1",
    b"oft_blocks",
    b"dora_scale",
)
DATASET_TOKENS = (
    b"@fifo ",
    b"@link ",
    b" -> ",
    b"@chmod0 ",
    b"@sparse ",
    b"10_x/",
    b"0_x/",
    b"-1_x/",
    b"99999999999999999999_x/",
    b"1e3_x/",
    b".png",
    b".txt=",
    b".caption=",
    b"/",
    b"\xff\xfe",
    b"\x1b[31m",
    b"a" * 255,
    b"../",
    b"/dev/zero",
    b"d/" * 40,
)
DIAGNOSE_TOKENS = TOML_TOKENS + (
    b'lr_scheduler = "polynomial"\n',
    b"lr_scheduler_power = ",
    b"lr_warmup_steps = ",
    b"max_train_steps = ",
    b"max_train_epochs = ",
    b"ema_decay = ",
    b"train_batch_size = ",
    b"gradient_accumulation_steps = ",
    b'lr_scheduler = "cosine_with_restarts"\n',
    b'lr_scheduler = "constant_with_warmup"\n',
    b"lr_warmup_ratio = ",
    b"image_count = ",
    b"num_repeats = ",
    b"network_dim = ",
    b"network_alpha = ",
    b"sample_every_n_steps = ",
    b"ema_update_every = ",
    b"\n--log--\n",
)
ABLATE_TOKENS = (
    b"--",
    b"--network_module=evil",
    b"\n",
    b"=",
    b",",
    b"network_dim",
    b"learning_rate",
    b"lr_scheduler",
    b"optimizer_type",
    b"network_args",
    b"ema_decay",
    b"seed",
    b"output_dir",
    b"'",
    b";",
    b"$(id)",
    b"\x00",
    b"none",
    b"None",
    b"1e-4,2e-4",
)

PROJECT_TOKENS = (
    b"[tool.rundiff]\n",
    b"[compare]\n",
    b"[diagnose]\n",
    b"[diagnose.rules.warmup-too-long]\n",
    b"warning_fraction = ",
    b"format = ",
    b"open = true\n",
    b"all = ",
    b"metric = ",
    b"ignore = [",
    b"select = [",
    b"baseline = ",
)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("sh", _file_target("launch.sh"), SHELL_TOKENS),
        Family("ps1", _file_target("launch.ps1"), PS_TOKENS),
        Family("bat", _file_target("launch.bat"), BAT_TOKENS),
        Family("markdown", _file_target("notes.md"), SHELL_TOKENS + PS_TOKENS + (b"```bash\n", b"```\n", b"~~~\n")),
        Family("toml", _file_target("config.toml"), TOML_TOKENS),
        Family("gui_json", _yaml_or_json_in_folder("config.json"), JSON_TOKENS, weight=1.5),
        Family("trainer_yaml", _yaml_or_json_in_folder("config.yaml"), YAML_TOKENS, weight=2),
        Family("trainer_json", _yaml_or_json_in_folder("trainer.json"), JSON_TOKENS, weight=1.5),
        Family("trainer_env", _file_target("train.env"), SHELL_TOKENS),
        Family("notebook", _file_target("train.ipynb"), JSON_TOKENS + SHELL_TOKENS, weight=1.5),
        Family("safetensors", _safetensors, SAFETENSORS_TOKENS, weight=1.5),
        Family("dataset_folder", _dataset_folder, DATASET_TOKENS, weight=4),
        Family("text_log", _log_target("train.log"), LOG_TOKENS, weight=3),
        Family("csv_log", _log_target("metrics.csv"), LOG_TOKENS, weight=3),
        Family("tensorboard", _log_target("events.out.tfevents.1700000000.host.1.0"), LOG_TOKENS, weight=3),
        Family("jsonl_log", _log_target("training_metrics.jsonl"), LOG_TOKENS + JSON_TOKENS, weight=3),
        Family("wandb_summary", _log_target("wandb-summary.json"), JSON_TOKENS, weight=3),
        Family(
            "sqlite_log",
            _log_target("loss_log.db"),
            (b"metrics", b"loss", b"lr", b"\xff" * 8, b"\x00" * 64, b"SQLite format 3\x00"),
            weight=3,
        ),
        Family("diagnose", _diagnose_target, DIAGNOSE_TOKENS, weight=3),
        Family("reports", _reports, DIAGNOSE_TOKENS, weight=15),
        Family("plots", _plots, DIAGNOSE_TOKENS + LOG_TOKENS, weight=40),
        Family("ablate_plan", _ablate_plan, ABLATE_TOKENS, weight=2),
        Family("run_yaml", _run_yaml, YAML_TOKENS + (b"outcome: ", b"metrics:", b"score: ", b"name: "), weight=15),
        Family("project_config", _project_config, TOML_TOKENS + PROJECT_TOKENS, weight=15),
    )
}

TARGETS: dict[str, Target] = {name: family.target for name, family in FAMILIES.items()}


_WARM_MODULES = (
    "rundiff.api",
    "rundiff.ablate.plan",
    "rundiff.comparison.table",
    "rundiff.diagnose.engine",
    "rundiff.diagnose.render",
    "rundiff.diagnose.plots",
    "rundiff.infer.inspect",
    "rundiff.infer.render",
    "rundiff.report",
    "rundiff.report.context",
    "rundiff.report.data",
    "rundiff.report.templates",
    "rundiff.report.terminal",
    "rundiff.report.output",
    "rundiff.ingest.script",
    "rundiff.ingest.markdown",
    "jinja2",
    "rich.console",
    "tensorboard.backend.event_processing.event_file_loader",
    "matplotlib.pyplot",
)


def warm_up() -> None:
    """Import and cache in the parent what the targets need, so forked workers start warm (an input must
    not pay seconds of imports against its time bound). Modules other helpers rename are skipped."""
    import contextlib
    import importlib
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from rundiff.normalise.registry import load_registry

    load_registry()
    for data, folder_name in ((seed_data.LAUNCH.encode(), "launch.sh"), (b"# x\n", "x.md")):
        # fills the caches (argument vocabulary, templates); warming only: the campaign reports what breaks
        with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
            _load(_write(Path(tmp), folder_name, data))
