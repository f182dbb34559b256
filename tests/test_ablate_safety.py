"""What ablate lets through to a trainer (issue 14 item 3), and the reproducers A01-A07 as regression tests.

The base run, `--values` and `--like` runs are someone else's files: the trainer's environment is an
allow-list (the base script's assignments are shown, not applied), every value is exactly one argument,
and `--dry-run` prints exactly what would run.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rundiff
from rundiff.ablate.backend import ShortRun
from rundiff.ablate.backends.kohya.backend import KohyaBackend
from rundiff.ablate.driver import run_ablation
from rundiff.ablate.plan import plan_ablation
from rundiff.ablate.safety import ENV_NEVER, check_argv, trainer_env, unsafe_reason
from rundiff.cli import app

LAUNCH = (
    "accelerate launch train_network.py --pretrained_model_name_or_path=model.safetensors "
    "--train_data_dir img --network_module networks.lora --network_dim 8 --learning_rate 1e-4 "
    "--max_train_steps 100\n"
)
#: A stand-in sd-scripts that reports what reached its environment and argv, then writes no results.
REPORTER = """import json, os, sys
json.dump({"env": dict(os.environ), "argv": sys.argv[1:]}, open("seen.json", "w"))
sys.exit(3)
"""


def make_case(root: Path, prefix: str = "", like: dict[str, str] | None = None) -> Path:
    base = root / "base"
    (base / "img" / "10_sks").mkdir(parents=True)
    (base / "img" / "10_sks" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (base / "model.safetensors").write_bytes(b"")
    (base / "launch.sh").write_text(prefix + LAUNCH)
    (root / "kohya").mkdir()
    (root / "kohya" / "train_network.py").write_text(REPORTER)
    for name, text in (like or {}).items():
        (root / "like").mkdir(exist_ok=True)
        (root / "like" / name).write_text(text)
    return root


def ablate(root: Path, *args: str):
    old = Path.cwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(app, ["ablate", *args])
    finally:
        os.chdir(old)


def dry(root: Path, *args: str):
    return ablate(root, "--base", "base", "--dry-run", "--backend", "kohya", "--kohya-dir", "kohya", "-o", "out", *args)


def commands(output: str) -> list[list[str]]:
    """The argv of every command line a dry run prints (comment lines and `env` prefixes skipped)."""
    out = []
    for line in output.splitlines():
        if line.startswith(("#", " ")) or not line.strip() or ":" in line.split()[0]:
            continue
        words = shlex.split(line)
        while words and (words[0] == "env" or "=" in words[0]):
            words.pop(0)
        out.append(words)
    return out


def test_a01_values_cannot_smuggle_an_option(tmp_path):
    root = make_case(tmp_path)
    result = dry(root, "--vary", "base_weights", "--values", "a.safetensors --network_module=evil_from_values")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "would read it as an option; refused" in result.output and "evil_from_values --output" not in result.output


def test_a02_like_file_cannot_smuggle_options(tmp_path):
    like = (
        "base_weights:\n  - a.safetensors\n  - --output_dir=/srv/untrusted/anywhere\n  - --save_state_to_huggingface\n"
    )
    root = make_case(tmp_path, like={"config.yaml": like})
    result = dry(root, "--vary", "base_weights", "--like", "like")
    assert result.exit_code == 2 and "refused" in result.output and "Traceback" not in result.output
    assert "--save_state_to_huggingface" not in "\n".join(" ".join(c) for c in commands(result.stdout))


def test_a03_base_script_environment_is_shown_not_applied(tmp_path):
    root = make_case(
        tmp_path,
        prefix="LD_PRELOAD=/srv/untrusted/evil.so PYTHONPATH=/srv/untrusted/p BASH_ENV=/srv/untrusted/evil.sh ",
    )
    base = rundiff.load_run(root / "base")
    kohya = KohyaBackend(root / "kohya", python=sys.executable, accelerate=False)
    plan = plan_ablation(base, ["network_dim"], values=["4"], steps=2)
    result = run_ablation(base, plan, kohya, root / "out", short=ShortRun(2))
    first = result.records[0]  # the base value trains first; the stand-in fails, so it is the only one run
    assert first.is_base_value and [r.status for r in result.records[1:]] == ["pending"]
    seen = json.loads((root / "out" / first.name / "seen.json").read_text())
    assert not any("untrusted" in v for v in seen["env"].values())  # nothing of the base script's reached it
    assert "LD_PRELOAD" not in seen["env"] and "BASH_ENV" not in seen["env"]
    assert result.records[0].status == "failed" and result.records[0].returncode == 3
    recorded = json.loads((root / "out" / "plan.json").read_text())["base_env_not_applied"]
    assert recorded["LD_PRELOAD"] == "/srv/untrusted/evil.so"  # shown in the plan (and so in the report)
    shown = dry(root, "--vary", "network_dim", "--values", "4")
    assert "NOT applied" in shown.output and "not applied: the base run sets LD_PRELOAD" in shown.output
    assert all("LD_PRELOAD" not in " ".join(c) for c in commands(shown.stdout))
    train_sh = (root / "out" / first.name / "train.sh").read_text()
    assert "export LD_PRELOAD" not in train_sh and "not applied" in train_sh


def test_a04_a_nul_byte_in_a_like_value_is_one_line_error(tmp_path):
    root = make_case(tmp_path, like={"trainer.json": json.dumps({"network_module": "evil\u0000mod", "network_dim": 8})})
    result = ablate(
        root,
        "--base",
        "base",
        "--vary",
        "network_module",
        "--like",
        "like",
        "--dry-run",
        "--backend",
        "builtin",
        "-o",
        "out",
    )
    assert result.exit_code == 2 and "NUL" in result.output and "Traceback" not in result.output


def test_a05_an_unset_base_value_is_left_out_not_passed_as_none(tmp_path):
    root = make_case(tmp_path)
    result = dry(root, "--vary", "base_weights", "--values", "x.safetensors")
    assert result.exit_code == 0, result.output
    argvs = commands(result.stdout)
    assert len(argvs) == 2 and not any("None" in word for argv in argvs for word in argv)
    assert sum(any(w.startswith("--base_weights") for w in argv) for argv in argvs) == 1


def test_a06_relative_base_paths_become_absolute(tmp_path):
    root = make_case(tmp_path)
    result = dry(root, "--vary", "network_dim", "--values", "4,16")
    assert result.exit_code == 0, result.output
    for argv in commands(result.stdout):
        model = next(w for w in argv if w.startswith("--pretrained_model_name_or_path="))
        assert model.split("=", 1)[1] == str((root / "base" / "model.safetensors").resolve())


def test_a07_control_characters_in_a_run_name_stay_out_of_files_and_terminal(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "launch.sh").write_text(
        "accelerate launch train_network.py --network_dim 8 --network_alpha 4 "
        "--learning_rate 1e-4 --lr_scheduler cosine --max_train_steps 100\n"
    )
    (base / "rundiff.yaml").write_text('name: "run \\u001b[31mred\\nfake = 1"\n')
    from rundiff.ablate.backends.builtin.backend import BuiltinBackend

    run = rundiff.load_run(base)
    plan = plan_ablation(run, ["network_dim"], values=["4"], steps=2)
    BuiltinBackend().prepare(run, plan.variants[0], tmp_path / "v", ShortRun(2))
    text = (tmp_path / "v" / "config.toml").read_text()
    assert "\x1b" not in text and "fake = 1" not in text.split("\n", 2)[1]  # the header stays one comment line
    import tomllib

    assert "fake" not in tomllib.loads(text)
    result = ablate(
        tmp_path,
        "--base",
        "base",
        "--vary",
        "network_dim",
        "--values",
        "4",
        "--dry-run",
        "--backend",
        "builtin",
        "-o",
        "out",
    )
    assert result.exit_code == 0 and "\x1b" not in result.output


def test_dry_run_prints_exactly_what_the_sweep_runs(tmp_path):
    root = make_case(tmp_path)
    result = dry(root, "--vary", "network_dim", "--values", "4", "--steps", "300")
    printed = commands(result.stdout)
    assert "# executor: " in result.output and "# LR horizon compressed" in result.output
    base = rundiff.load_run(root / "base")
    kohya = KohyaBackend(root / "kohya", python=sys.executable)
    plan = plan_ablation(base, ["network_dim"], values=["4"], steps=300)
    jobs = [kohya.prepare(base, v, root / "out" / v.name, ShortRun(300)) for v in plan.variants]
    assert printed == [list(job.argv) for job in jobs]  # the driver submits exactly job.argv


def test_environment_allow_list():
    env = trainer_env(
        {"PYTHONUNBUFFERED": "1"},
        environ={
            "PATH": "/bin",
            "HOME": "/h",
            "LD_PRELOAD": "x.so",
            "AWS_SECRET_ACCESS_KEY": "s",
            "LC_ALL": "C",
            "MY_VAR": "1",
            "HF_HOME": "/hf",
        },
    )
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "HF_HOME": "/hf", "PYTHONUNBUFFERED": "1"}
    assert trainer_env({}, passed=["MY_VAR"], environ={"MY_VAR": "1"}) == {"MY_VAR": "1"}
    with pytest.raises(rundiff.RundiffError, match="never passed"):
        trainer_env({}, passed=["LD_PRELOAD"], environ={})
    assert {"LD_PRELOAD", "BASH_ENV", "PYTHONSTARTUP"} <= ENV_NEVER


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("a.safetensors", False),
        ("-1", False),
        ("-1e-4", False),
        ("--flag", True),
        ("-x", True),
        ("a\nb", True),
        ("a\x00b", True),
        ("a\x1b[31m", True),
        ("dir/with space/a", False),
    ],
)
def test_one_argument_rule(text, bad):
    assert (unsafe_reason(text) is not None) is bad


def test_argv_check_refuses_control_characters_in_any_word():
    check_argv(["python", "--name=value with space", "--x=-1"], "v")
    with pytest.raises(rundiff.RundiffError, match="newline"):
        check_argv(["python", "--name=a\nb"], "v")
