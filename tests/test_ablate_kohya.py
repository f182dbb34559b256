"""The kohya backend against the sd-scripts stand-in (tests/standin) and the real trainer's fixture files.

The stand-in honours sd-scripts' command line and writes what the real trainer writes (TensorBoard
tags with the LR one step ahead, ss_* metadata, kohya key names); tests/test_real_sd_scripts.py runs
the same loop against the real trainer when it is installed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

import rundiff
from rundiff.ablate.backend import ShortRun
from rundiff.ablate.backends.kohya.backend import KohyaBackend
from rundiff.ablate.backends.kohya.collect import collect_variant, lora_delta_norm
from rundiff.ablate.driver import run_ablation
from rundiff.ablate.executors.local import LocalExecutor
from rundiff.ablate.plan import plan_ablation
from rundiff.comparison.table import compare_runs
from rundiff.diagnose.schedule import LRSchedule
from rundiff.errors import RundiffError
from rundiff.model import Provenance
from rundiff.normalise.steps import StepPlan

STANDIN = Path(__file__).parent / "standin"
REAL = Path(__file__).parent / "fixtures" / "real_kohya"
FAKE_ACCELERATE = "/opt/kohya/venv/bin/accelerate"


def make_base(
    root: Path,
    *,
    scheduler: str = "cosine",
    warmup: str = "2",
    precision: str = "no",
    script: str = "train_network.py",
    extra: str = "",
) -> Path:
    """A kohya run folder: launch script with variables and an accelerate prefix, a --config_file TOML with
    sections, a --dataset_config TOML with a relative image_dir, a sample prompt file."""
    base = root / "base"
    images = base / "dataset" / "10_sks"
    images.mkdir(parents=True)
    for i in range(4):
        (images / f"img_{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        (images / f"img_{i}.txt").write_text(f"a photo of sks, shape {i}\n")
    (root / "model").mkdir()
    (root / "model" / "model_index.json").write_text("{}")
    (base / "config").mkdir()
    (base / "config" / "train.toml").write_text(
        textwrap.dedent(f'''\
        [model_arguments]
        pretrained_model_name_or_path = "{root / "model"}"
        [training_arguments]
        mixed_precision = "{precision}"
        save_precision = "fp16"
        max_train_steps = 500
        save_every_n_steps = 100
        ''')
    )
    (base / "config" / "dataset.toml").write_text(
        textwrap.dedent("""\
        [general]
        caption_extension = ".txt"
        shuffle_caption = true

        [[datasets]]
        resolution = 64
        batch_size = 1

          [[datasets.subsets]]
          image_dir = "../dataset/10_sks"
          num_repeats = 10
        """)
    )
    (base / "prompts.txt").write_text("a photo of sks\n")
    (base / "train.sh").write_text(
        textwrap.dedent(f"""\
        #!/usr/bin/env bash
        RUN_DIR="$(cd "$(dirname "$0")" && pwd)"
        SD_SCRIPTS="${{SD_SCRIPTS_DIR:-/opt/sd-scripts}}"
        DIM=32
        export HF_HUB_OFFLINE=1
        accelerate launch --num_cpu_threads_per_process=2 "$SD_SCRIPTS/{script}" \\
          --config_file="$RUN_DIR/config/train.toml" \\
          --dataset_config=config/dataset.toml \\
          --network_module=networks.lora \\
          --network_dim=$DIM --network_alpha 16 \\
          --learning_rate 1e-4 --lr_scheduler={scheduler} --lr_warmup_steps={warmup} \\
          --max_train_epochs=4 --save_every_n_epochs=1 \\
          --output_dir="$RUN_DIR/out" --output_name=mylora --logging_dir=./tb \\
          --sample_prompts=prompts.txt --sample_every_n_epochs=1 \\
          --seed=1234 {extra}
        """)
    )
    return base


def backend(**kwargs) -> KohyaBackend:
    return KohyaBackend(STANDIN, python=sys.executable, **{"accelerate": False, **kwargs})


def train(kohya: KohyaBackend, base_run, plan, out: Path, names: list[str] | None = None) -> dict[str, list[str]]:
    """Prepare, run (LocalExecutor: submit/wait/collect) and collect the named variants; their warnings."""
    executor = LocalExecutor()
    handles = {}
    for variant in plan.variants:
        if names is None or variant.name in names:
            handles[variant.name] = executor.submit(
                kohya.prepare(base_run, variant, out / variant.name, ShortRun(plan.steps))
            )
    warnings = {}
    for name, handle in handles.items():
        while not executor.wait([handle], timeout=5):
            pass
        result = executor.collect(handle)
        assert result.returncode == 0, result.stderr_tail
        warnings[name] = kohya.collect(out / name)
    return warnings


def metadata_of(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "np") as fh:
        return fh.metadata() or {}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------ rewriting


def test_rewrite_for_network_dim_gives_the_exact_command_and_files(tmp_path):
    base = make_base(tmp_path)
    base_run = rundiff.load_run(base)
    kohya = backend(accelerate=FAKE_ACCELERATE)
    plan = plan_ablation(base_run, ["network_dim"], values=["8", "16"], steps=10)
    variant = next(v for v in plan.variants if v.name == "network_dim=8")
    folder = tmp_path / "sweep" / variant.name
    job = kohya.prepare(base_run, variant, folder, ShortRun(10))

    assert list(job.argv) == [
        FAKE_ACCELERATE,
        "launch",
        "--num_cpu_threads_per_process=2",
        str(STANDIN.absolute() / "train_network.py"),
        "--config_file=train.toml",
        "--dataset_config=dataset.toml",
        "--network_module=networks.lora",
        "--network_dim=8",
        "--network_alpha=16",
        "--learning_rate=1e-4",
        "--lr_scheduler=cosine",
        "--lr_warmup_steps=1",
        f"--sample_prompts={base / 'prompts.txt'}",
        "--sample_every_n_steps=10",
        "--output_dir=output",
        "--output_name=mylora",
        "--logging_dir=logs",
        "--max_train_steps=10",
        "--seed=0",
    ]
    assert job.cwd == folder
    assert "HF_HUB_OFFLINE" not in job.env and job.env["CUDA_VISIBLE_DEVICES"] == ""  # the base's export: not applied
    assert kohya.base_env(base_run) == {"HF_HUB_OFFLINE": "1"}  # ... but shown
    command = json.loads((folder / "command.json").read_text())
    assert command == {"argv": list(job.argv), "cwd": ".", "env": job.env}
    # the --config_file copy: sections kept, what the short run sets removed (CLI beats it anyway)
    assert tomllib.loads((folder / "train.toml").read_text()) == {
        "model_arguments": {"pretrained_model_name_or_path": str(tmp_path / "model")},
        "training_arguments": {"mixed_precision": "no", "save_precision": "fp16"},
    }
    # the --dataset_config copy: image_dir absolute (it was relative to the dataset file)
    dataset = tomllib.loads((folder / "dataset.toml").read_text())
    assert dataset["datasets"][0]["subsets"] == [{"image_dir": str(base / "dataset" / "10_sks"), "num_repeats": 10}]
    assert dataset["general"] == {"caption_extension": ".txt", "shuffle_caption": True}
    # train.sh: one option per line, and exactly the argv (read back with rundiff's own script reader)
    script = (folder / "train.sh").read_text()
    assert "  --network_dim=8 \\\n" in script and script.count("\n  --") == len(job.argv) - 3
    launch = rundiff.load_run(folder).sources[0].launch
    assert [a.written for a in launch.trainer_args] == list(job.argv[4:])


def test_train_sh_runs_by_hand_and_writes_the_variant_outputs(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path))
    kohya = backend()
    plan = plan_ablation(base_run, ["network_dim"], values=["8", "16"], steps=4)
    folder = tmp_path / "sweep" / "network_dim=8"
    kohya.prepare(base_run, plan.variants[1], folder, ShortRun(4))
    done = subprocess.run(["bash", str(folder / "train.sh")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (folder / "output" / "mylora.safetensors").is_file()
    assert len(list((folder / "logs").glob("*/network_train/events.out.tfevents.*"))) == 1


def test_two_variants_differ_only_in_network_dim_and_sources_agree(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path))
    kohya = backend()
    plan = plan_ablation(base_run, ["network_dim"], values=["8", "16"], steps=6)
    out = tmp_path / "sweep"
    train(kohya, base_run, plan, out, ["network_dim=8", "network_dim=16"])
    runs = [rundiff.load_run(out / "network_dim=8"), rundiff.load_run(out / "network_dim=16")]
    comparison = compare_runs(runs)
    differing = {row.name: row for row in comparison.differing()}
    inputs = [
        n
        for n, row in differing.items()
        if any(e.cell.provenance is not Provenance.DERIVED for e in row.entries.values())
    ]
    assert inputs == ["network_dim"]
    assert set(differing) <= {"network_dim", "lora_scale"}  # lora_scale = alpha / dim, derived from it
    assert comparison.conflicts == []
    for run, dim in zip(runs, (8, 16), strict=True):
        cell = run.get("network_dim")
        assert cell.value == dim and cell.provenance is Provenance.EXPLICIT
        assert any(c.startswith("metadata:") and "ss_network_dim" in c for c in cell.confirmed_by)
        assert any(c.startswith("weights:") for c in cell.confirmed_by)
        meta = metadata_of(Path(run.path) / "output" / "mylora.safetensors")
        assert meta["ss_network_dim"] == str(dim)
        assert meta["ss_network_alpha"] == "16.0"  # float on the CLI, as sd-scripts writes it
        assert meta["ss_seed"] == "0" and meta["ss_steps"] == "6"


def test_dataset_key_goes_into_the_dataset_toml_copy(tmp_path):
    base = make_base(tmp_path)
    base_run = rundiff.load_run(base)
    kohya = backend()
    plan = plan_ablation(base_run, ["num_repeats"], values=["3"], steps=3)
    variant = next(v for v in plan.variants if v.name == "num_repeats=3")
    train(kohya, base_run, plan, tmp_path / "sweep", [variant.name])
    folder = tmp_path / "sweep" / variant.name
    dataset = tomllib.loads((folder / "dataset.toml").read_text())
    assert dataset["datasets"][0]["subsets"][0]["num_repeats"] == 3
    argv = json.loads((folder / "command.json").read_text())["argv"]
    assert not any("repeats" in a for a in argv)
    assert (
        tomllib.loads((base / "config" / "dataset.toml").read_text())["datasets"][0]["subsets"][0]["num_repeats"] == 10
    )  # the user's file is only read
    datasets = json.loads(metadata_of(folder / "output" / "mylora.safetensors")["ss_datasets"])
    assert datasets[0]["subsets"][0]["num_repeats"] == 3 and datasets[0]["num_train_images"] == 12
    assert rundiff.load_run(folder).get("num_repeats").value == 3


def test_num_repeats_on_a_folder_method_base_gets_a_generated_dataset_config(tmp_path):
    run = tmp_path / "run"
    (run / "img" / "5_cat").mkdir(parents=True)
    (run / "img" / "5_cat" / "a.png").write_bytes(b"png")
    (tmp_path / "model").mkdir()
    (run / "train.sh").write_text(
        f"python train_network.py --pretrained_model_name_or_path={tmp_path / 'model'} "
        "--train_data_dir=img --resolution=64 --network_dim=4 --caption_extension=.txt\n"
    )
    base_run = rundiff.load_run(run)
    plan = plan_ablation(base_run, ["num_repeats"], values=["2", "5"], steps=3)
    folder = tmp_path / "sweep" / "num_repeats=2"
    job = backend().prepare(base_run, plan.variants[0], folder, ShortRun(3))
    data = tomllib.loads((folder / "dataset_config.toml").read_text())
    assert data == {
        "datasets": [{"subsets": [{"image_dir": str(run / "img" / "5_cat"), "num_repeats": 2, "class_tokens": "cat"}]}]
    }
    assert "--dataset_config=dataset_config.toml" in job.argv
    assert not any(a.startswith("--train_data_dir") for a in job.argv)


# ------------------------------------------------------------------------------------------- refusals


def test_constant_scheduler_with_warmup_is_refused_before_anything_runs(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path, scheduler="constant", warmup="0"))
    plan = plan_ablation(base_run, ["lr_warmup_steps"], values=["0", "5"], steps=10)
    with pytest.raises(RundiffError, match=r"lr_warmup_steps=5: lr_scheduler constant with lr_warmup_steps 1 cannot"):
        backend().check(base_run, plan)
    # the stand-in fails the way the real trainer does (ValueError, exit 1, no logs, no LoRA)
    folder = tmp_path / "direct"
    backend().prepare(base_run, plan.variants[1], folder, ShortRun(10))
    argv = json.loads((folder / "command.json").read_text())["argv"]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True)
    assert done.returncode == 1
    assert "ValueError: SchedulerType.CONSTANT does not require `num_warmup_steps`. Set None or 0." in done.stderr
    assert not (folder / "logs").exists() and not (folder / "output").exists()


def test_base_with_only_a_lora_file_is_refused(tmp_path):
    lora = tmp_path / "only" / "model.safetensors"
    lora.parent.mkdir()
    shutil.copy(REAL / "tiny_lora_dim1_fp16.safetensors", lora)
    base_run = rundiff.load_run(lora.parent)
    plan = plan_ablation(base_run, ["network_dim"], values=["2", "4"], steps=10)
    with pytest.raises(RundiffError, match="no sd-scripts launch script or --config_file TOML to rebuild"):
        backend().check(base_run, plan)
    assert not backend().installed(base_run)


def test_missing_training_script_and_unknown_arguments_are_refused(tmp_path, monkeypatch):
    base_run = rundiff.load_run(make_base(tmp_path))
    plan = plan_ablation(base_run, ["network_dim"], values=["8"], steps=10)
    empty = tmp_path / "sd-scripts"
    empty.mkdir()
    elsewhere = KohyaBackend(empty, python=sys.executable)
    assert not elsewhere.installed(base_run) and backend().installed(base_run)
    with pytest.raises(RundiffError, match=r"train_network.py is not in .*sd-scripts"):
        elsewhere.check(base_run, plan)
    with pytest.raises(RundiffError, match="logit_mean is not an argument of sd-scripts' train_network.py"):
        backend().check(base_run, plan_ablation(base_run, ["logit_mean"], values=["0.0", "0.5"], steps=10))
    monkeypatch.delenv("KOHYA_SD_SCRIPTS", raising=False)
    with pytest.raises(RundiffError, match="set --kohya-dir or KOHYA_SD_SCRIPTS"):
        KohyaBackend(None)


def test_fp16_on_cpu_is_rewritten_to_no_and_the_unrewritten_run_fails(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path, precision="fp16"))
    kohya = backend()
    plan = plan_ablation(base_run, ["network_dim"], values=["8"], steps=3)
    assert any("mixed_precision fp16 -> no" in w for w in kohya.check(base_run, plan))
    folder = tmp_path / "sweep" / "network_dim=8"
    job = kohya.prepare(base_run, plan.variants[1], folder, ShortRun(3))
    assert "--mixed_precision=no" in job.argv
    assert "mixed_precision" not in tomllib.loads((folder / "train.toml").read_text())["training_arguments"]
    train(kohya, base_run, plan, tmp_path / "sweep", ["network_dim=8"])
    assert metadata_of(folder / "output" / "mylora.safetensors")["ss_mixed_precision"] == "no"
    # without the rewrite the stand-in fails like the real trainer: RuntimeError at the first step, exit 1,
    # an events file without scalars, no LoRA
    raw = tmp_path / "raw"
    raw.mkdir()
    argv = ["--mixed_precision=fp16" if a == "--mixed_precision=no" else a for a in job.argv]
    shutil.copy(folder / "train.toml", raw)
    shutil.copy(folder / "dataset.toml", raw)
    done = subprocess.run(argv, cwd=raw, capture_output=True, text=True, env={**os.environ, **job.env})
    assert done.returncode == 1
    assert "RuntimeError: expected m1 and m2 to have the same dtype, but got: c10::Half != float" in done.stderr
    events = list((raw / "logs").glob("*/network_train/events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size < 100 and not (raw / "output").exists()


def test_crashing_variant_is_recorded_with_its_stderr_and_the_sweep_goes_on(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path))
    plan = plan_ablation(base_run, ["network_module"], values=["networks.lora", "networks.not_installed"], steps=3)
    result = run_ablation(base_run, plan, backend(), tmp_path / "sweep", short=ShortRun(3))
    status = {r.name: r for r in result.records}
    assert status["network_module=networks.lora"].status == "done"
    failed = status["network_module=networks.not_installed"]
    assert failed.status == "failed" and failed.returncode == 1
    assert "ModuleNotFoundError: No module named 'networks.not_installed'" in failed.stderr_tail


def test_base_value_dying_before_its_first_step_stops_the_sweep_and_leaves_the_rest_pending(tmp_path):
    """The canary fires: the base run's own value fails at start (a module that is not installed), so the
    setup is broken; the other values are not started, stay pending for a re-run, and say why."""
    base_run = rundiff.load_run(make_base(tmp_path, extra="--network_module=networks.not_installed"))
    plan = plan_ablation(base_run, ["network_dim"], values=["4", "8"], steps=3)
    assert [v.is_base_value for v in plan.variants] == [True, False, False]
    result = run_ablation(base_run, plan, backend(), tmp_path / "sweep", short=ShortRun(3))
    status = {r.name: r for r in result.records}
    assert status["network_dim=32"].status == "failed"
    assert "networks.not_installed" in status["network_dim=32"].stderr_tail
    for name in ("network_dim=4", "network_dim=8"):
        assert status[name].status == "pending"
        assert "failed before its first training step" in status[name].warnings[0]
        assert not (tmp_path / "sweep" / name / "stdout.log").exists()  # never launched
    assert any("not started: 2 variant(s)" in w for w in result.warnings)


def test_a_varied_value_dying_at_start_does_not_stop_the_others(tmp_path):
    """The canary stays quiet: the base value trains, so two values that each fail at start are two
    failures of their own, and both were tried."""
    base_run = rundiff.load_run(make_base(tmp_path))
    plan = plan_ablation(
        base_run, ["network_module"], values=["networks.not_installed", "networks.also_missing"], steps=3
    )
    assert plan.variants[0].name == "network_module=networks.lora" and plan.variants[0].is_base_value
    result = run_ablation(base_run, plan, backend(), tmp_path / "sweep", short=ShortRun(3))
    assert [r.status for r in result.records] == ["done", "failed", "failed"]
    assert not any("not started" in w for w in result.warnings)


def test_the_base_value_goes_first_and_the_others_start_once_it_has_trained_a_step(tmp_path, monkeypatch):
    """With two slots the second variant starts while the canary is still training (after its first
    step), not after it has finished; and the base value listed last in --values still goes first."""
    monkeypatch.setenv("RUNDIFF_STANDIN_STEP_S", "0.4")
    base_run = rundiff.load_run(make_base(tmp_path))
    plan = plan_ablation(base_run, ["network_dim"], values=["4", "32"], steps=8)
    events: list[tuple[str, str]] = []
    executor = LocalExecutor(jobs=2, pass_env=["RUNDIFF_STANDIN_STEP_S"])
    run_ablation(
        base_run,
        plan,
        backend(),
        tmp_path / "sweep",
        short=ShortRun(8),
        executor=executor,
        on_progress=lambda name, _progress, event: events.append((name, event)),
    )
    order = [e for e in events if e[1] in ("started", "done")]
    assert order[0] == ("network_dim=32", "started")
    assert order.index(("network_dim=4", "started")) < order.index(("network_dim=32", "done"))
    assert [n for n, e in events if e == "progress"][0] == "network_dim=32"


# ------------------------------------------------------------------------------- metrics and progress


def test_logged_lr_is_one_step_ahead_of_the_applied_lr_which_matches_the_simulation(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path))
    # --horizon compressed: 48 warmup steps of the base's 160 become 3 of the short run's 10
    plan = plan_ablation(base_run, ["lr_warmup_steps"], values=["48"], steps=10)
    schedule = next(v for v in plan.variants if v.name == "lr_warmup_steps=48").schedule
    assert (schedule["base_total_steps"], schedule["warmup_steps"]) == (160, 3)
    warnings = train(backend(), base_run, plan, tmp_path / "sweep", ["lr_warmup_steps=48"])
    assert warnings == {"lr_warmup_steps=48": []}
    rows = read_csv(tmp_path / "sweep" / "lr_warmup_steps=48" / "metrics.csv")
    assert list(rows[0]) == [
        "step",
        "epoch",
        "loss",
        "loss_avg",
        "lr/textencoder",
        "lr/unet",
        "lr_logged/textencoder",
        "lr_logged/unet",
        "wall_time_s",
        "dw",
        "dw_rel",
    ]
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    schedule = LRSchedule("cosine", 1e-4, StepPlan(total_steps=10, warmup_steps=3))
    for n, row in enumerate(rows, start=1):
        # lr/<group> is the LR the step ran with (as the builtin backend writes it); lr_logged/ is kohya's
        assert float(row["lr/unet"]) == pytest.approx(schedule.lr(n - 1), rel=1e-6, abs=1e-12)
        assert float(row["lr_logged/unet"]) == pytest.approx(schedule.lr(n), rel=1e-6, abs=1e-12)
        if n < 10:
            assert rows[n]["lr/unet"] == row["lr_logged/unet"]
    assert float(rows[0]["lr/unet"]) == 0.0 and float(rows[0]["lr_logged/unet"]) == pytest.approx(1e-4 / 3)
    assert rows[-1]["dw"] and float(rows[-1]["dw"]) > 0 and all(not r["dw"] for r in rows[:-1])
    assert all(r["dw_rel"] == "" for r in rows)
    walls = [float(r["wall_time_s"]) for r in rows]
    assert walls == sorted(walls) and walls[0] >= 0


def test_collect_reads_the_real_trainers_events(tmp_path):
    """The real sd-scripts file (dim 8, cosine, 5 warmup steps): lr/group1 dropped, applied LR = logged one back."""
    folder = tmp_path / "variant"
    events = folder / "logs" / "20261121120000" / "network_train"
    events.mkdir(parents=True)
    shutil.copy(REAL / "events.out.tfevents.kohya_tiny_lora_dim8_warmup5", events / "events.out.tfevents.1.vm.1.0")
    (folder / "output").mkdir()
    shutil.copy(REAL / "tiny_lora_dim1_fp16.safetensors", folder / "output" / "tiny_lora.safetensors")
    argv = [
        "accelerate",
        "launch",
        "train_network.py",
        "--learning_rate=1e-4",
        "--lr_scheduler=cosine",
        "--lr_warmup_steps=5",
        "--max_train_steps=10",
        "--output_name=tiny_lora",
    ]
    (folder / "command.json").write_text(json.dumps({"argv": argv, "cwd": ".", "env": {}}))
    (folder / "stdout.log").write_text("  num batches per epoch / 1epochのバッチ数: 80\n")
    assert collect_variant(folder) == []
    rows = read_csv(folder / "metrics.csv")
    assert "lr/group1" not in rows[0] and "lr_logged/group1" not in rows[0]
    assert {"lr/textencoder", "lr/unet", "lr_logged/unet"} <= set(rows[0])
    logged = [float(r["lr_logged/unet"]) for r in rows]
    applied = [float(r["lr/unet"]) for r in rows]
    assert logged[:5] == pytest.approx([2e-05, 4e-05, 6e-05, 8e-05, 1e-04], rel=1e-6)
    assert applied == pytest.approx([0.0, *logged[:-1]], rel=1e-6)
    schedule = LRSchedule("cosine", 1e-4, StepPlan(total_steps=10, warmup_steps=5))
    assert applied == pytest.approx([schedule.lr(k) for k in range(10)], rel=1e-5, abs=1e-12)
    assert float(rows[0]["loss"]) == pytest.approx(1.02875, rel=1e-5)
    assert rows[-1]["epoch"] == "1" and float(rows[-1]["dw"]) == pytest.approx(0.471569, rel=1e-4)


def test_lora_delta_norm_matches_the_merged_matrices(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {
        "lora_unet_a.lora_down.weight": rng.normal(size=(4, 6)).astype(np.float16),
        "lora_unet_a.lora_up.weight": rng.normal(size=(5, 4)).astype(np.float16),
        "lora_unet_a.alpha": np.array(2.0, dtype=np.float16),
        "lora_unet_b.lora_down.weight": rng.normal(size=(2, 3, 3, 3)).astype(np.float32),
        "lora_unet_b.lora_up.weight": rng.normal(size=(7, 2, 1, 1)).astype(np.float32),
        "lora_unet_b.alpha": np.array(1.0, dtype=np.float32),
    }
    path = tmp_path / "l.safetensors"
    save_file(tensors, str(path))
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    expected = np.linalg.norm(
        2.0 / 4 * t["lora_unet_a.lora_up.weight"] @ t["lora_unet_a.lora_down.weight"]
    ) + np.linalg.norm(
        1.0 / 2 * t["lora_unet_b.lora_up.weight"].reshape(7, 2) @ t["lora_unet_b.lora_down.weight"].reshape(2, 27)
    )
    assert lora_delta_norm(path) == pytest.approx(expected, rel=1e-12)


def test_parse_progress_reads_tqdm_lines():
    kohya = backend()
    progress = kohya.parse_progress("steps:  10%|█         | 4/40 [00:02<00:20,  1.80it/s, avr_loss=0.0912]")
    assert (progress.step, progress.total, progress.loss) == (4, 40, 0.0912)
    start = kohya.parse_progress("steps:   0%|          | 0/10 [00:00<?, ?it/s]")
    assert (start.step, start.total, start.loss) == (0, 10, None)
    assert kohya.parse_progress("validation steps:  50%|█████     | 1/2 [00:01<00:01, val_avg_loss=0.1]") is None
    assert kohya.parse_progress("epoch 1/1") is None


def test_python_and_accelerate_are_found_in_the_kohya_venv(tmp_path, monkeypatch):
    kohya_dir = tmp_path / "sd-scripts"
    venv_bin = kohya_dir / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text("")
    (venv_bin / "accelerate").write_text(f"#!{venv_bin / 'python'}\n")
    monkeypatch.delenv("KOHYA_VENV", raising=False)
    kohya = KohyaBackend(kohya_dir)
    assert (kohya.python, kohya.accelerate) == (str(venv_bin / "python"), str(venv_bin / "accelerate"))
    other = tmp_path / "other"
    (other / "bin").mkdir(parents=True)
    (other / "bin" / "python").write_text("")
    monkeypatch.setenv("KOHYA_VENV", str(other))
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    kohya = KohyaBackend(kohya_dir)
    # KOHYA_VENV's python wins; the accelerate on PATH belongs to another python, so it is not used
    assert (kohya.python, kohya.accelerate) == (str(other / "bin" / "python"), None)


def test_validation_losses_go_to_validation_csv(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path, extra="--validation_split=0.25 --validate_every_n_steps=2"))
    plan = plan_ablation(base_run, ["network_dim"], values=["8"], steps=6)
    train(backend(), base_run, plan, tmp_path / "sweep", ["network_dim=8"])
    rows = read_csv(tmp_path / "sweep" / "network_dim=8" / "validation.csv")
    assert [(r["step"], r["epoch"]) for r in rows] == [("2", ""), ("4", ""), ("6", "")]
    metrics = read_csv(tmp_path / "sweep" / "network_dim=8" / "metrics.csv")
    assert float(rows[0]["val_loss"]) == pytest.approx(float(metrics[1]["loss"]) + 0.05, rel=1e-6)


def test_a_run_that_finds_no_images_exits_0_but_is_recorded_as_failed(tmp_path):
    base = make_base(tmp_path, warmup="0")  # with no images the base's total steps, so its warmup fraction, are unknown
    for image in (base / "dataset" / "10_sks").glob("*.png"):
        image.unlink()
    base_run = rundiff.load_run(base)
    plan = plan_ablation(base_run, ["network_dim"], values=["8"], steps=3)
    result = run_ablation(base_run, plan, backend(), tmp_path / "sweep", short=ShortRun(3))
    record = next(r for r in result.records if r.name == "network_dim=32")  # the base value, which goes first
    assert record.returncode == 0 and record.status == "failed"
    assert "wrote no TensorBoard events and no LoRA" in record.stderr_tail and "No data found" in record.stderr_tail
    assert next(r for r in result.records if r.name == "network_dim=8").status == "pending"  # same setup: not started


def test_sdxl_script_runs_the_sdxl_stand_in(tmp_path):
    base_run = rundiff.load_run(make_base(tmp_path, script="sdxl_train_network.py"))
    plan = plan_ablation(base_run, ["network_dim"], values=["4"], steps=2)
    train(backend(), base_run, plan, tmp_path / "sweep", ["network_dim=4"])
    lora = tmp_path / "sweep" / "network_dim=4" / "output" / "mylora.safetensors"
    meta = metadata_of(lora)
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0" and meta["ss_network_dim"] == "4"
    run = rundiff.load_run(lora.parent.parent)
    assert run.get("model_family").value == "sdxl" and run.conflicts == []
