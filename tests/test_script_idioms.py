"""Launch scripts as people really write them (#9 item 4), on fixtures in real-world layouts.

Each idiom is checked both ways: the value a decidable branch gives, and the branch that must not
fire. Undecidable branches give unknown values with a warning naming the line; nothing is run.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from rundiff import load_run
from rundiff.ingest.run_folder import _argument_vocabulary
from rundiff.ingest.script import ingest_script
from rundiff.ingest.shell import read_script
from rundiff.model import Provenance

FIXTURES = Path(__file__).parent / "fixtures" / "scripts"


def launch_facts(path: Path) -> tuple[dict, list[str]]:
    [source] = ingest_script(path, **_argument_vocabulary())
    return {f.key: f for f in source.facts}, source.warnings


def edited(tmp_path: Path, name: str, **changes: str) -> Path:
    """The fixture with some of its top-of-file variables changed, as a user edits it."""
    text = (FIXTURES / name).read_text()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    out = tmp_path / name
    out.write_text(text)
    return out


def values(facts: dict) -> dict:
    return {k: f.value for k, f in facts.items()}


# -- PowerShell: lora-scripts train.ps1 (ArrayList, [void].Add, if/elseif/else) ----------------


def test_lora_scripts_ps1_as_shipped():
    facts, warnings = launch_facts(FIXTURES / "lora_scripts_train.ps1")
    v = values(facts)
    assert v["training_script"] == "train_network.py"
    assert v["clip_skip"] == "2"  # sd1.5 branch taken
    assert "v2" not in v  # the sd2.0 branch must not fire
    assert "lowram" not in v  # $lowram = 0 (an int) is false
    assert "network_args" not in v  # network_module is not lycoris.kohya
    assert "noise_offset" not in v  # -ne 0 is false for 0
    assert v["optimizer_type"] == "AdamW8bit"  # "--optimizer_type=" + $optimizer_type
    assert v["persistent_data_loader_workers"] is True
    assert v["log_with"] == "tensorboard"  # the else branch
    assert v["num_cpu_threads_per_process"] == "4" and "multi_gpu" not in v
    assert warnings == []


def test_lora_scripts_ps1_edited_to_sdxl_lycoris(tmp_path):
    path = edited(
        tmp_path,
        "lora_scripts_train.ps1",
        **{
            '$model_type = "sd1.5"': '$model_type = "SDXL"',  # -eq is case-insensitive
            '$network_module = "networks.lora"': '$network_module = "lycoris.kohya"',
            "$lowram = 0": "$lowram = 1",
            "$noise_offset = 0": "$noise_offset = 0.05",
            "$multi_gpu = 0": "$multi_gpu = 1",
            "$use_wandb = 0": "$use_wandb = 1",
        },
    )
    v = values(launch_facts(path)[0])
    assert v["training_script"] == "sdxl_train_network.py"
    assert v["model_family"] == "sdxl"
    assert "clip_skip" not in v
    assert v["network_args"] == ["conv_dim=4", "conv_alpha=4", "algo=lora", "dropout=0"]
    assert v["lowram"] is True
    assert v["noise_offset"] == "0.05"
    assert v["multi_gpu"] is True and v["num_processes"] == "2"
    assert v["log_with"] == "all"


def test_powershell_string_zero_is_true_but_int_zero_is_false():
    s = read_script(
        textwrap.dedent("""
        $a = 0
        $b = "0"
        $c = $false
        $list = @()
        $list += "--x"
        if ($a) { $list += "--a" }
        if ($b) { $list += "--b" }
        if ($c -or -not $b) { $list += "--c" } else { $list += "--not-c" }
        if ($a -eq 0 -and $b -eq "0") { [void]$list.Add("--both") }
        run @list
        """),
        "powershell",
    )
    assert s.commands[-1].texts == ["run", "--x", "--b", "--not-c", "--both"]


def test_powershell_undecidable_condition_reports_alternatives(tmp_path):
    path = tmp_path / "train.ps1"
    path.write_text(
        textwrap.dedent("""
        $ext = New-Object System.Collections.ArrayList
        if (Test-Path "./vae.safetensors") {
          [void]$ext.Add("--vae=./vae.safetensors")
          $dim = 32
        } else {
          $dim = 16
        }
        $name = Get-Date -Format "yyyyMMdd"
        accelerate launch train_network.py --network_dim=$dim --output_name=run_$name $ext --seed=1
        """)
    )
    facts, warnings = launch_facts(path)
    assert facts["seed"].value == "1"
    for key in ("network_dim", "vae", "output_name"):
        assert facts[key].provenance is Provenance.UNKNOWN and facts[key].value is None
    assert "'32' or '16'" in facts["network_dim"].note and "line 3" in facts["network_dim"].note
    assert "line 9" in facts["output_name"].note
    assert any(w.startswith(f"{path}:10: --network_dim") for w in warnings)


# -- bash: lora-scripts train.sh ---------------------------------------------------------------


def test_lora_scripts_sh_keeps_the_real_scripts_traps():
    v = values(launch_facts(FIXTURES / "lora_scripts_train.sh")[0])
    assert "clip_skip" not in v  # T1: the branch appends to ext_args, the launch expands extArgs
    assert v["lowram"] is True  # T2: [[ $lowram ]] is true for "0"
    assert "network_weights" not in v and "reg_data_dir" not in v  # [[ "" ]] is false
    assert "noise_offset" not in v
    assert v["log_with"] == "tensorboard"
    assert v["training_script"] == "train_network.py"


def test_lora_scripts_sh_edited_to_flux(tmp_path):
    path = edited(
        tmp_path,
        "lora_scripts_train.sh",
        **{
            'model_type="sd1.5"': 'model_type="flux"',
            'noise_offset="0"': 'noise_offset="0.1"',
            "train_unet_only=0": "train_unet_only=1",
        },
    )
    v = values(launch_facts(path)[0])
    assert v["training_script"] == "flux_train_network.py"
    assert v["noise_offset"] == "0.1"
    assert v["network_train_unet_only"] is True


def test_bash_and_or_lists_and_undecided_scalar(tmp_path):
    path = tmp_path / "run.sh"
    path.write_text(
        textwrap.dedent("""
        X=1
        ARGS=()
        if [ "$X" = 1 ]; then ARGS+=(--xformers); else ARGS+=(--sdpa); fi
        if [[ -n "$GPU_BIG" ]]; then BATCH=8; else BATCH=2; fi
        OUT=$(date +%s)
        accelerate launch train_network.py "${ARGS[@]}" --train_batch_size=$BATCH --output_name="lora_$OUT" \\
          --network_dim 8
        """)
    )
    facts, warnings = launch_facts(path)
    assert facts["xformers"].value is True and "sdpa" not in facts
    assert facts["network_dim"].value == "8"
    batch = facts["train_batch_size"]
    assert batch.provenance is Provenance.UNKNOWN and "'8' or '2'" in batch.note and "line 5" in batch.note
    assert facts["output_name"].provenance is Provenance.UNKNOWN and "line 6" in facts["output_name"].note
    assert len(warnings) == 2


# -- cmd -----------------------------------------------------------------------------------------


def test_cmd_if_set_defined_else_blocks():
    facts, warnings = launch_facts(FIXTURES / "gui_windows.bat")
    v = values(facts)
    assert v["training_script"] == "sdxl_train_network.py"  # if /i "%MODEL%"=="SDXL" ( ... )
    assert v["resolution"] == "1024,1024"  # not the else block's 512,512
    assert v["xformers"] is True  # if "%USE_XFORMERS%"=="1" set ...
    assert v["network_dim"] == "16"  # if defined DIM
    assert v["cache_latents"] is True and "network_train_unet_only" not in v  # 16 GEQ 32 is false
    assert v["output_name"] == "my lora"
    # `if exist` and `if not defined` (the environment may define it) cannot be decided
    assert facts["vae"].provenance is Provenance.UNKNOWN
    assert facts["network_alpha"].provenance is Provenance.UNKNOWN
    assert len(warnings) == 2 and all("line 1" in w for w in warnings)


def test_cmd_if_edited_other_way(tmp_path):
    path = edited(
        tmp_path,
        "gui_windows.bat",
        **{"set MODEL=sdxl": "set MODEL=sd15", "set USE_XFORMERS=1": "set USE_XFORMERS=0", "set DIM=16": "set DIM=64"},
    )
    v = values(launch_facts(path)[0])
    assert v["training_script"] == "train_network.py"
    assert v["resolution"] == "512,512"
    assert "xformers" not in v
    assert v["network_dim"] == "64" and v["network_train_unet_only"] is True and "cache_latents" not in v


# -- whole runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lora_scripts_train.ps1", "lora_scripts_train.sh", "gui_windows.bat"])
def test_unknown_values_stay_unknown_in_the_run(tmp_path, name):
    shutil.copy(FIXTURES / name, tmp_path / name)
    run = load_run(tmp_path / name)
    assert run.cells["network_dim"].value in (32, 16, None)
    if name == "gui_windows.bat":
        assert run.cells["network_alpha"].provenance is Provenance.UNKNOWN  # not sd-scripts' default
        assert any("line 17" in w for w in run.warnings)


# -- launch forms: every script is read, or skipped with a reason ---------------------------------

LAUNCH_FORMS = {
    "module_launch.sh": "python -m accelerate.commands.launch --num_cpu_threads_per_process=2 train_network.py {a}\n",
    "quoted_script.sh": 'accelerate launch --mixed_precision bf16 "./sdxl_train_network.py" {a}\n',
    "python_u.sh": "python3 -u train_network.py {a}\n",
    "unset_python.sh": "$PYTHON train_network.py {a}\n",
    "venv_python.ps1": ".\\venv\\Scripts\\python.exe train_network.py {a}\r\n",
    "call_operator.ps1": '$py = ".\\venv\\Scripts\\python.exe"\n& $py train_network.py {a}\n',
    "call.bat": "call accelerate launch train_network.py {a}\r\n",
    "start_wait.bat": "start /wait python train_network.py {a}\r\n",
    "nohup.sh": "nohup accelerate launch train_network.py {a} > log.txt 2>&1 &\n",
    "exec.sh": "exec accelerate launch train_network.py {a}\n",
    "env_prefix_blank_continuation.sh": "CUDA_VISIBLE_DEVICES=0 accelerate launch train_network.py \\  \n  {a}\n",
    "bom_crlf.ps1": "\ufeffaccelerate launch train_network.py {a}\r\n",
    "caret_continuation.sh": "accelerate launch train_network.py ^\n  {a}\n",
    "run.zsh": "accelerate launch train_network.py {a}\n",
    "run.ksh": "accelerate launch train_network.py {a}\n",
    "eval.sh": 'CMD="accelerate launch train_network.py"\nCMD="$CMD {a}"\neval "$CMD"\n',
    "bash_c.sh": 'bash -c "accelerate launch train_network.py {a}"\n',
    "musubi_module.sh": "accelerate launch -m musubi_tuner.wan_train_network {a}\n",
    "unset_python.bat": '"%PYTHON%" train_network.py {a}\r\n',
    "cmd_c.bat": 'cmd /c "accelerate launch train_network.py {a}"\r\n',
    "torchrun.sh": "torchrun --nproc_per_node 2 train_network.py {a}\n",
    "conda_run.sh": "conda run -n kohya accelerate launch train_network.py {a}\n",
    "splat.ps1": '$a = @("--network_dim", "4", "--seed", "7")\naccelerate launch train_network.py @a\n',
}


@pytest.mark.parametrize("name", sorted(LAUNCH_FORMS))
def test_launch_forms_are_read(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(LAUNCH_FORMS[name].format(a="--network_dim 4 --seed 7").encode())
    facts, _ = launch_facts(path)
    assert facts["network_dim"].value == "4" and facts["seed"].value == "7"
    assert facts["training_script"].value.endswith("train_network.py")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("git pull\npip install -r requirements.txt\n", "no command in it runs a training script (it runs: git, pip)"),
        ("python finetune/tag_images_by_wd14_tagger.py --batch_size 4 ./train\n", "not a training script"),
        ("cp train_network.py backup/\n", "names train_network.py but not as a launch"),
    ],
)
def test_scripts_without_a_launch_are_skipped_with_a_reason(tmp_path, text, reason):
    (tmp_path / "tool.sh").write_text(text)
    (tmp_path / "train.sh").write_text("accelerate launch train_network.py --network_dim 4\n")
    run = load_run(tmp_path)
    [skipped] = [s for s in run.skipped if s.path.endswith("tool.sh")]
    assert reason in skipped.reason
    assert run.cells["network_dim"].value == 4  # the other script is still read


# -- bash and-or lists and case -----------------------------------------------------------------


def test_and_or_lists_run_only_when_their_test_allows():
    s = read_script(
        textwrap.dedent("""
        LOWRAM=1
        V2=0
        ARGS=()
        [ "$LOWRAM" = 1 ] && ARGS+=(--lowram)
        [[ $V2 == 1 ]] && ARGS+=(--v2) || ARGS+=(--clip_skip=2)
        [ -f vae.safetensors ] && ARGS+=(--vae=vae.safetensors)
        if [ "$LOWRAM" = 1 ] && [ "$V2" = 1 ]; then ARGS+=(--both); fi
        if [ "$LOWRAM" = 1 ] || [ "$V2" = 1 ]; then ARGS+=(--either); fi
        run "${ARGS[@]}"
        """)
    )
    words = s.commands[-1].texts
    assert words[:3] == ["run", "--lowram", "--clip_skip=2"]
    assert "--v2" not in words and "--both" not in words and words[-1] == "--either"
    [vae] = [w for w in words if w.startswith("--vae")]
    assert "cannot be decided" in vae.cond  # a file test: given only maybe


def test_case_picks_the_matching_pattern(tmp_path):
    path = tmp_path / "case.sh"
    text = textwrap.dedent("""
        model_type="sdxl"
        case "$model_type" in
          sd1.5|sd15) script=train_network.py; extra="--clip_skip=2" ;;
          "sdxl")
            script=sdxl_train_network.py
            extra="--no_half_vae"
            ;;
          flux*) script=flux_train_network.py ;;
          *) script=unknown.py ;;
        esac
        accelerate launch $script $extra --network_dim 8
        """)
    path.write_text(text)
    v = values(launch_facts(path)[0])
    assert v["training_script"] == "sdxl_train_network.py" and v["no_half_vae"] is True and "clip_skip" not in v
    path.write_text(text.replace('model_type="sdxl"', 'model_type="flux-dev"'))
    v = values(launch_facts(path)[0])
    assert v["training_script"] == "flux_train_network.py" and "no_half_vae" not in v
    path.write_text(text.replace('model_type="sdxl"', 'model_type="sd15"'))
    assert values(launch_facts(path)[0])["clip_skip"] == "2"


def test_case_on_an_unset_variable_reports_alternatives(tmp_path):
    path = tmp_path / "case_env.sh"
    path.write_text(
        textwrap.dedent("""
        case "$MODEL" in
          xl) DIM=32 ;;
          *) DIM=16 ;;
        esac
        accelerate launch train_network.py --network_dim $DIM --seed 3
        """)
    )
    facts, warnings = launch_facts(path)
    assert facts["seed"].value == "3"
    assert facts["network_dim"].provenance is Provenance.UNKNOWN and "'32' or '16'" in facts["network_dim"].note


def test_powershell_isnullorempty_and_array_copy():
    s = read_script(
        textwrap.dedent("""
        $reg = ""
        $name = "x"
        $a = [System.Collections.ArrayList]::new()
        if (![string]::IsNullOrEmpty($reg)) { [void]$a.Add("--reg") }
        if (-not [string]::IsNullOrWhiteSpace($name)) { [void]$a.Add("--name=$name") }
        $b = $a
        $b += "--z"
        run @b
        """),
        "powershell",
    )
    assert s.commands[-1].texts == ["run", "--name=x", "--z"]
