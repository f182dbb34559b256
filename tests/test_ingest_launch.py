"""Launch scripts written the way kohya users write them: launches, arguments, facts, references."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rundiff.errors import RundiffError
from rundiff.ingest.launch import find_launch
from rundiff.ingest.script import ingest_command_text, ingest_script, virtual_text
from rundiff.ingest.shell import read_script
from rundiff.model import Provenance, SourceKind

KNOWN = {
    "pretrained_model_name_or_path",
    "train_data_dir",
    "output_dir",
    "output_name",
    "resolution",
    "network_module",
    "network_dim",
    "network_alpha",
    "network_args",
    "learning_rate",
    "unet_lr",
    "text_encoder_lr",
    "max_train_epochs",
    "max_train_steps",
    "train_batch_size",
    "optimizer_type",
    "optimizer_args",
    "lr_scheduler",
    "lr_scheduler_args",
    "lr_scheduler_num_cycles",
    "lr_warmup_steps",
    "mixed_precision",
    "save_precision",
    "xformers",
    "shuffle_caption",
    "caption_extension",
    "cache_latents",
    "cache_latents_to_disk",
    "network_train_unet_only",
    "cache_text_encoder_outputs",
    "min_snr_gamma",
    "seed",
    "config_file",
    "dataset_config",
    "save_every_n_epochs",
    "keep_tokens",
    "v2",
    "noise_offset",
    "use_8bit_adam",
    "max_token_length",
    "max_data_loader_n_workers",
    "sample_prompts",
    "logging_dir",
    "log_prefix",
    "save_model_as",
    "gradient_checkpointing",
    "clip_skip",
    "enable_bucket",
}
FLAGS = {
    "xformers",
    "shuffle_caption",
    "cache_latents",
    "cache_latents_to_disk",
    "network_train_unet_only",
    "cache_text_encoder_outputs",
    "v2",
    "use_8bit_adam",
    "gradient_checkpointing",
    "enable_bucket",
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def facts(source, kind=SourceKind.CLI) -> dict:
    return {f.key: f.value for f in source.facts if f.kind is kind}


def fact(source, key):
    return next(f for f in source.facts if f.key == key)


AKEGARASU = """
    #!/bin/bash
    # LoRA train script by @Akegarasu

    # Train data path | 设置训练用模型、图片
    pretrained_model="./sd-models/model.ckpt" # base model path | 底模路径
    is_v2_model=0
    train_data_dir="./train/aki"
    reg_data_dir=""

    # Network settings | 网络参数
    network_module="networks.lora"
    network_weights=""
    network_dim=32
    network_alpha=32

    # Train related params | 训练相关参数
    resolution="512,512"
    batch_size=1
    max_train_epoches=10
    save_every_n_epochs=2

    train_unet_only=0
    noise_offset=0
    keep_tokens=0
    min_snr_gamma=0

    # Learning rate | 学习率
    lr="1e-4"
    unet_lr="1e-4"
    text_encoder_lr="1e-5"
    lr_scheduler="cosine_with_restarts"
    lr_warmup_steps=0
    lr_restart_cycles=1

    # Output settings | 输出设置
    output_name="aki"
    save_model_as="safetensors"

    # LoCon
    enable_locon_train=1
    conv_dim=4
    conv_alpha=4
    use_8bit_adam=1

    export HF_HOME="huggingface"
    export TF_CPP_MIN_LOG_LEVEL=3

    extArgs=()

    if [ $is_v2_model == 1 ]; then
      extArgs+=("--v2")
    else
      extArgs+=("--clip_skip 2")
    fi

    if [[ $enable_locon_train == 1 ]]; then
      network_module="locon.locon_kohya"
      extArgs+=("--network_args conv_dim=$conv_dim conv_alpha=$conv_alpha")
    fi

    if [[ $use_8bit_adam == 1 ]]; then extArgs+=("--use_8bit_adam"); fi

    accelerate launch --num_cpu_threads_per_process=8 "./sd-scripts/train_network.py" \\
      --enable_bucket \\
      --pretrained_model_name_or_path=$pretrained_model \\
      --train_data_dir=$train_data_dir \\
      --output_dir="./output" \\
      --logging_dir="./logs" \\
      --resolution=$resolution \\
      --network_module=$network_module \\
      --max_train_epochs=$max_train_epoches \\
      --learning_rate=$lr \\
      --unet_lr=$unet_lr \\
      --text_encoder_lr=$text_encoder_lr \\
      --lr_scheduler=$lr_scheduler \\
      --lr_warmup_steps=$lr_warmup_steps \\
      --lr_scheduler_num_cycles=$lr_restart_cycles \\
      --network_dim=$network_dim \\
      --network_alpha=$network_alpha \\
      --output_name=$output_name \\
      --train_batch_size=$batch_size \\
      --save_every_n_epochs=$save_every_n_epochs \\
      --mixed_precision="fp16" \\
      --save_precision="fp16" \\
      --seed="1337" \\
      --cache_latents \\
      --caption_extension=".txt" \\
      --save_model_as=$save_model_as \\
      --min_snr_gamma=$min_snr_gamma \\
      --noise_offset=$noise_offset \\
      --keep_tokens=$keep_tokens \\
      --xformers --shuffle_caption ${extArgs[@]}
    """


def test_akegarasu_train_sh(tmp_path):
    path = write(tmp_path, "train.sh", AKEGARASU)
    [source] = ingest_script(path, known_args=KNOWN, flag_args=FLAGS)
    assert source.format == "kohya-script"
    assert source.trainer == "sd-scripts"
    assert source.precedence == 20
    assert source.chain == f"{path}#63"
    cli = facts(source)
    assert cli["pretrained_model_name_or_path"] == "./sd-models/model.ckpt"
    assert cli["network_module"] == "locon.locon_kohya"  # reassigned inside the if
    assert cli["max_train_epochs"] == "10"
    assert cli["learning_rate"] == "1e-4"  # scientific notation kept as written
    assert cli["text_encoder_lr"] == ["1e-5"]  # nargs='*'
    assert cli["network_dim"] == "32"
    assert cli["seed"] == "1337"
    assert cli["caption_extension"] == ".txt"
    assert cli["network_args"] == ["conv_dim=4", "conv_alpha=4"]
    assert cli["use_8bit_adam"] is True
    assert cli["xformers"] is True and cli["shuffle_caption"] is True and cli["cache_latents"] is True
    # `if [ $is_v2_model == 1 ]` is decidable from the script's own variables: the else branch ran
    assert "v2" not in cli and cli["clip_skip"] == "2"
    assert cli["training_script"] == "train_network.py"
    assert facts(source, SourceKind.LAUNCHER) == {"num_cpu_threads_per_process": "8"}
    assert fact(source, "learning_rate").line == 72
    assert fact(source, "network_args").line == 92  # the line of ${extArgs[@]}
    assert fact(source, "training_script").provenance is Provenance.EXPLICIT
    family = fact(source, "model_family")
    assert family.value == "sd1" and family.provenance is Provenance.INFERRED
    assert "from the training script name" in family.note
    assert fact(source, "training_type").value == "lora"
    assert source.warnings == []


RAINFANTRY = """
    #!/bin/bash
    set -e

    # ===== CONFIG =====
    TOKEN="ohwx"
    CLASS="woman"
    NUM_REPEATS=20
    EPOCHS=10
    RANK=32
    ALPHA=16
    LEARNING_RATE="1e-4"
    OUTPUT_NAME="${TOKEN}_lora_v1"
    DATA_DIR="/workspace/training_data/${NUM_REPEATS}_${TOKEN}"

    mkdir -p "$DATA_DIR"

    # ===== TRAIN =====
    cd /workspace/kohya_ss/sd-scripts
    accelerate launch --num_cpu_threads_per_process=2 sdxl_train_network.py \\
      --pretrained_model_name_or_path="/workspace/models/sd_xl_base_1.0.safetensors" \\
      --train_data_dir="/workspace/training_data" \\
      --output_dir="/workspace/output" \\
      --output_name="${OUTPUT_NAME}" \\
      --resolution="1024,1024" \\
      --max_train_epochs=${EPOCHS} \\
      --network_dim=${RANK} \\
      --network_alpha="${ALPHA}" \\
      --learning_rate="${LEARNING_RATE}" \\
      --network_module=networks.lora \\
      --network_train_unet_only \\
      --cache_text_encoder_outputs \\
      --min_snr_gamma=5 \\
      --optimizer_type="AdamW8bit" \\
      --optimizer_args weight_decay=0.01 betas=0.9,0.999 \\
      --lr_warmup_steps $((EPOCHS*2)) \\
      --seed=42

    # ===== DONE =====
    echo "Training finished: ${OUTPUT_NAME}"
    """


def test_rainfantry_runpod_style(tmp_path):
    path = write(tmp_path, "runpod_sdxl_lora_setup.sh", RAINFANTRY)
    [source] = ingest_script(path, known_args=KNOWN, flag_args=FLAGS)
    cli = facts(source)
    assert cli["output_name"] == "ohwx_lora_v1"
    assert cli["max_train_epochs"] == "10"
    assert cli["network_dim"] == "32"
    assert cli["network_alpha"] == "16"
    assert cli["learning_rate"] == "1e-4"
    assert cli["network_train_unet_only"] is True
    assert cli["cache_text_encoder_outputs"] is True
    assert cli["optimizer_args"] == ["weight_decay=0.01", "betas=0.9,0.999"]
    assert cli["lr_warmup_steps"] == "20"
    assert cli["seed"] == "42"
    assert fact(source, "model_family").value == "sdxl"
    assert fact(source, "training_script").value == "sdxl_train_network.py"
    assert fact(source, "seed").line == 36
    assert source.warnings == []


def test_hidetobara_minimal_space_separated_accelerate_option_and_dataset_config(tmp_path):
    path = write(
        tmp_path,
        "run_lora.sh",
        """
        accelerate launch --num_cpu_threads_per_process 1 train_network.py \\
            --pretrained_model_name_or_path="model.safetensors" \\
            --dataset_config="lora_scz.toml" \\
            --output_dir="out" \\
            --max_train_steps=1500 \\
            --optimizer_type="AdamW8bit" \\
            --mixed_precision="no" \\
            --network_module=networks.lora
        """,
    )
    [source] = ingest_script(path)
    assert facts(source, SourceKind.LAUNCHER) == {"num_cpu_threads_per_process": "1"}
    cli = facts(source)
    assert cli["max_train_steps"] == "1500" and cli["mixed_precision"] == "no"
    assert "network_dim" not in cli
    assert source.references == [tmp_path / "lora_scz.toml"]
    assert source.virtual_files == {}
    assert fact(source, "model_family").value == "sd1"


def test_prefix_abbreviation_resolved_against_known_names(tmp_path):
    path = write(
        tmp_path,
        "trainSD.sh",
        """
        export NCCL_P2P_DISABLE=1
        accelerate launch --num_processes 2 train_network.py --max_train_epoch 50 --learning_r 1e-4 \\
          --max_train 10 --sav fp16
        """,
    )
    [source] = ingest_script(path, known_args=KNOWN, flag_args=FLAGS)
    cli = facts(source)
    assert cli["max_train_epochs"] == "50"
    assert cli["learning_rate"] == "1e-4"
    assert fact(source, "max_train_epochs").note == "abbreviated as --max_train_epoch"
    # ambiguous prefixes stay as written, with a warning naming file and line
    assert cli["max_train"] == "10" and cli["sav"] == "fp16"
    assert (
        f"{path}:3: --max_train is ambiguous (--max_train_epochs, --max_train_steps); kept as written"
        in source.warnings
    )
    assert any(w.startswith(f"{path}:3: --sav is ambiguous") for w in source.warnings)


def test_two_config_files_before_and_after_the_script(tmp_path):
    path = write(
        tmp_path,
        "colab.sh",
        """
        accelerate launch --config_file=accelerate.yaml --num_cpu_threads_per_process=1 train_network.py \\
          --dataset_config=/content/dataset.toml --config_file=training_config
        """,
    )
    [source] = ingest_script(path)
    assert facts(source, SourceKind.LAUNCHER) == {"config_file": "accelerate.yaml", "num_cpu_threads_per_process": "1"}
    assert facts(source)["config_file"] == "training_config"
    # sd-scripts appends .toml; relative paths resolve against the script's folder
    assert source.references == [Path("/content/dataset.toml"), tmp_path / "training_config.toml"]


def test_akegarasu_train_by_toml(tmp_path):
    path = write(
        tmp_path,
        "train_by_toml.sh",
        """
        #!/bin/bash
        config_file="./config/default.toml"
        sample_prompts="./config/sample_prompts.txt"
        multi_gpu=1
        launchArgs=()
        if [[ $multi_gpu == 1 ]]; then launchArgs+=("--multi_gpu"); fi
        export PYTHONUTF8=1
        accelerate launch ${launchArgs[@]} --num_cpu_threads_per_process=8 "./sd-scripts/train_network.py" \\
          --config_file=$config_file \\
          --sample_prompts=$sample_prompts
        """,
    )
    [source] = ingest_script(path)
    assert facts(source, SourceKind.LAUNCHER) == {"multi_gpu": True, "num_cpu_threads_per_process": "8"}
    assert facts(source)["config_file"] == "./config/default.toml"
    assert source.references == [tmp_path / "config" / "default.toml"]
    assert source.virtual_files == {}


def test_heredoc_toml_is_exposed_as_virtual_file(tmp_path):
    path = write(
        tmp_path,
        "gen.sh",
        """
        DIM=${DIM:-16}
        cat > lora.toml <<EOL
        [additional_network_arguments]
        network_dim = ${DIM}
        network_alpha = $((DIM / 2))
        EOL
        python sdxl_train_network.py --config_file=lora.toml --output_name=x
        """,
    )
    [source] = ingest_script(path)
    ref = tmp_path / "lora.toml"
    assert source.references == [ref]
    assert not ref.exists()  # nothing written to disk
    expected = "[additional_network_arguments]\nnetwork_dim = 16\nnetwork_alpha = 8\n"
    assert virtual_text(source, ref) == expected
    assert source.virtual_files == {str(ref): expected}
    assert facts(source, SourceKind.LAUNCHER) == {}


def test_multi_token_and_quoted_word_split_network_args(tmp_path):
    path = write(
        tmp_path,
        "multi.sh",
        """
        NA="algo=locon conv_dim=8 conv_alpha=4"
        python3 train_network.py --network_args "conv_dim=8" "conv_alpha=4" --network_dim 16
        python3 train_network.py --network_args $NA --xformers
        python3 train_network.py --network_args "$NA"
        """,
    )
    first, second, third = ingest_script(path, flag_args=FLAGS)
    assert facts(first)["network_args"] == ["conv_dim=8", "conv_alpha=4"]
    assert facts(first)["network_dim"] == "16"
    assert facts(second)["network_args"] == ["algo=locon", "conv_dim=8", "conv_alpha=4"]
    assert facts(second)["xformers"] is True
    assert facts(third)["network_args"] == ["algo=locon conv_dim=8 conv_alpha=4"]
    assert first.chain != second.chain


def test_flags_never_eat_a_following_word_and_strays_warn(tmp_path):
    path = write(
        tmp_path,
        "stray.sh",
        """
        python train_network.py --xformers oops --unknown_flag --seed 1 --noise_offset -0.05
        """,
    )
    [source] = ingest_script(path, flag_args=FLAGS)
    cli = facts(source)
    assert cli["xformers"] is True
    assert cli["unknown_flag"] is True
    assert cli["seed"] == "1"
    assert cli["noise_offset"] == "-0.05"  # a negative number is a value, not an option
    assert f"{path}:1: stray word 'oops' ignored (not an option of train_network.py)" in source.warnings


def test_v2_flag_makes_the_family_sd2(tmp_path):
    path = write(tmp_path, "v2.sh", "accelerate launch train_network.py --v2 --v_parameterization\n")
    [source] = ingest_script(path, flag_args=FLAGS)
    family = fact(source, "model_family")
    assert family.value == "sd2"
    assert family.note == "from the training script name and --v2"


def test_legacy_caption_extention(tmp_path):
    path = write(tmp_path, "legacy.sh", "python train_db.py --caption_extention=.txt --use_8bit_adam\n")
    [source] = ingest_script(path, known_args=KNOWN, flag_args=FLAGS)
    assert facts(source)["caption_extension"] == ".txt"
    assert fact(source, "caption_extension").note == "written as the legacy --caption_extention"
    assert fact(source, "training_type").value == "full"
    assert facts(source)["use_8bit_adam"] is True


def test_commented_out_lines_and_commented_continuation(tmp_path):
    path = write(
        tmp_path,
        "commented.sh",
        """
        # accelerate launch sdxl_train_network.py --network_dim 128
        accelerate launch train_network.py \\
          --network_dim 32 \\
          # --network_dim 64 \\
          --network_alpha 16
        """,
    )
    [source] = ingest_script(path)
    cli = facts(source)
    assert cli["network_dim"] == "32"
    assert "network_alpha" not in cli  # bash ends the command at the comment line
    assert any(
        w.startswith(f"{path}:5: options on this line are not part of the launch at line 2") for w in source.warnings
    )


def test_unresolved_variables_warn_with_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "vars.sh",
        """
        accelerate launch train_network.py \\
          --pretrained_model_name_or_path=$MODEL \\
          --output_dir=${OUT:-./out}
        """,
    )
    [source] = ingest_script(path)
    # a value built from a variable the script never sets is unknown (not ""), with a warning naming it
    model = next(f for f in source.facts if f.key == "pretrained_model_name_or_path")
    assert model.value is None and model.provenance.value == "unknown" and "$MODEL" in model.note
    assert facts(source)["output_dir"] == "./out"
    assert source.warnings == [
        f"{path}:2: --pretrained_model_name_or_path: built from $MODEL, which this script "
        "does not set or rundiff does not run; its value is unknown (read as '')"
    ]


def test_launcher_forms(tmp_path):
    path = write(
        tmp_path,
        "forms.sh",
        """
        python -m accelerate.commands.launch --num_processes=1 --quiet flux_train_network.py --seed 1
        /opt/venv/bin/accelerate launch --multi_gpu --gpu_ids 0,1 /opt/kohya/sd-scripts/sd3_train_network.py
        ./venv/bin/python -u lumina_train_network.py
        python finetune/make_captions.py --batch_size 8
        pip install -r requirements.txt
        """,
    )
    sources = ingest_script(path)
    assert [fact(s, "training_script").value for s in sources] == [
        "flux_train_network.py",
        "sd3_train_network.py",
        "lumina_train_network.py",
    ]
    assert facts(sources[0], SourceKind.LAUNCHER) == {"num_processes": "1", "quiet": True}
    assert facts(sources[1], SourceKind.LAUNCHER) == {"multi_gpu": True, "gpu_ids": "0,1"}
    assert facts(sources[2], SourceKind.LAUNCHER) == {}
    assert [fact(s, "model_family").value for s in sources] == ["flux", "sd3", "lumina"]


def test_windows_bat_with_caret_and_set(tmp_path):
    path = tmp_path / "train.bat"
    path.write_bytes(
        textwrap.dedent("""\
        @echo off
        set "MODEL=C:\\models\\sd15.safetensors"
        set LR=1e-4
        .\\venv\\Scripts\\python.exe train_network.py ^
          --pretrained_model_name_or_path="%MODEL%" ^
          --learning_rate=%LR% ^
          --network_args "conv_dim=8" "conv_alpha=4"
        """)
        .replace("\n", "\r\n")
        .encode("latin-1")
    )
    [source] = ingest_script(path)
    cli = facts(source)
    assert cli["pretrained_model_name_or_path"] == "C:\\models\\sd15.safetensors"
    assert cli["learning_rate"] == "1e-4"
    assert cli["network_args"] == ["conv_dim=8", "conv_alpha=4"]
    assert fact(source, "learning_rate").line == 6


def test_powershell_with_backtick(tmp_path):
    path = write(
        tmp_path,
        "train.ps1",
        """
        $pretrained = "C:\\models\\sdxl.safetensors"
        $lr = 0.0001
        .\\venv\\Scripts\\activate
        accelerate launch --num_cpu_threads_per_process 2 sdxl_train.py `
          --pretrained_model_name_or_path=$pretrained `
          --learning_rate $lr `
          --use_8bit_adam
        """,
    )
    [source] = ingest_script(path)
    cli = facts(source)
    assert cli["pretrained_model_name_or_path"] == "C:\\models\\sdxl.safetensors"
    assert cli["learning_rate"] == "0.0001"
    assert cli["use_8bit_adam"] is True
    assert fact(source, "learning_rate").line == 6
    assert fact(source, "training_type").value == "full"
    assert fact(source, "model_family").value == "sdxl"


def test_duplicate_argument_last_wins_with_warning(tmp_path):
    path = write(tmp_path, "dup.sh", "python train_network.py --network_dim 8 \\\n  --network_dim=16\n")
    [source] = ingest_script(path)
    assert facts(source)["network_dim"] == "16"
    assert fact(source, "network_dim").line == 2
    assert source.warnings == [
        f"{path}:2: --network_dim given again (first at line 1); the later value wins, as in argparse"
    ]


def test_no_launch_gives_empty_list(tmp_path):
    path = write(tmp_path, "setup.sh", "pip install -r requirements.txt\ncd sd-scripts\n")
    assert ingest_script(path) == []


def test_undecodable_and_oversized_files_raise(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_bytes(b"accelerate launch train_network.py --output_name=\xff\xfe\xfa\n")
    with pytest.raises(RundiffError) as err:
        ingest_script(bad)
    assert err.value.path == str(bad)
    big = tmp_path / "big.sh"
    big.write_bytes(b"#" * (5 * 1024 * 1024 + 1))
    with pytest.raises(RundiffError, match="bytes"):
        ingest_script(big)
    # latin-1 is accepted for Windows scripts
    bat = tmp_path / "ok.bat"
    bat.write_bytes(b"python train_network.py --output_name=caf\xe9\n")
    assert facts(ingest_script(bat)[0])["output_name"] == "caf\u00e9"


def test_find_launch_ignores_non_training_commands():
    script = read_script("python tools/resize_lora.py --new_rank 4\naccelerate config\n")
    assert [find_launch(c) for c in script.commands] == [None, None]


def test_ingest_command_text_offsets_lines(tmp_path):
    [source] = ingest_command_text(
        "accelerate launch train_network.py \\\n  --network_dim 8\n", tmp_path / "notes.md", first_line=40
    )
    assert fact(source, "network_dim").line == 41
    assert source.chain == f"{tmp_path / 'notes.md'}#40"
    assert source.format == "markdown-command"


def test_hostile_scripts_fail_with_one_line_errors(tmp_path):
    growth = write(tmp_path, "grow.sh", "x=aaaaaaaa\n" + 'x="$x$x"\n' * 40 + "python train_network.py --a=$x\n")
    with pytest.raises(RundiffError, match="grows past"):
        ingest_script(growth)
    deep = write(tmp_path, "deep.sh", "python train_network.py --a=" + "${a:-" * 3000 + "x" + "}" * 3000 + "\n")
    with pytest.raises(RundiffError, match="nested too deeply"):
        ingest_script(deep)


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("x=$(( ]#%) !]&$((-\\!\\", "posix"),  # unterminated arithmetic ending in a backslash
        ('@(Zelif `\n;|&9$env:%6${a[@]}"$x = ', "powershell"),  # array sub-expression meeting a pipe
        ("set /a X=_0a+=(1(=${[$^b*-4 ];!", "cmd"),
        ("cat <<EOL", "posix"),  # here-document with no body at all
    ],
)
def test_malformed_text_never_raises(text, dialect):
    script = read_script(text, dialect)
    assert all(find_launch(c) is None for c in script.commands)
