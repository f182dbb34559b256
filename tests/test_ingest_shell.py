"""The safe shell reader: expansion, splitting, continuations and line numbers, per dialect."""

from __future__ import annotations

import textwrap

import pytest

from rundiff.ingest.shell import Word, dialect_for, read_script


def sh(text: str, dialect: str = "posix"):
    return read_script(textwrap.dedent(text).lstrip("\n"), dialect)


def texts(script, index: int = -1) -> list[str]:
    return script.commands[index].texts


def test_variables_export_and_quoting():
    s = sh("""
        pretrained_model="./sd-models/model v1.safetensors"
        lr='1e-4'
        export HF_HOME=/data/hf TF_CPP_MIN_LOG_LEVEL=3
        declare -i dim=32
        local alpha=16
        echo "$pretrained_model" $lr ${dim} "${alpha}x" \\$lr '$lr' "a\\"b"
        """)
    assert texts(s) == ["echo", "./sd-models/model v1.safetensors", "1e-4", "32", "16x", "$lr", "$lr", 'a"b']
    assert s.variables["HF_HOME"] == "/data/hf"
    assert s.variables["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_unquoted_expansion_word_splits_quoted_does_not():
    s = sh("""
        opts="--a 1  --b 2"
        run $opts "$opts"
        """)
    assert texts(s) == ["run", "--a", "1", "--b", "2", "--a 1  --b 2"]


def test_defaults_assign_default_and_alternative():
    s = sh("""
        EMPTY=
        run ${UNSET:-512} ${EMPTY:-x} ${EMPTY-y} ${NEW:=7} $NEW ${EMPTY:+no} ${lr:-"1e-4 b"}
        """)
    assert texts(s) == ["run", "512", "x", "7", "7", "1e-4", "b"]
    assert s.commands[-1].unresolved == []


def test_unknown_variable_is_empty_and_recorded_with_its_line():
    s = sh("""
        run --a=$MISSING \\
          --b="${ALSO_MISSING}" --c=$(pwd)/out
        """)
    assert texts(s) == ["run", "--a=", "--b=", "--c=/out"]
    assert s.commands[0].unresolved == [("MISSING", 1), ("ALSO_MISSING", 2), ("$(pwd)", 2)]


def test_arithmetic_on_known_variables_without_eval():
    s = sh("""
        EPOCHS=10
        STEPS=$((EPOCHS*2))
        run $((EPOCHS * 2)) $(( (EPOCHS + 5) / 4 )) $((-7 / 2)) $((7 % 3)) $((2**10)) $STEPS $(($EPOCHS-1))
        run $((__import__ + 1)) $((1 / 0))
        """)
    assert texts(s, 0) == ["run", "20", "3", "-3", "1", "1024", "20", "9"]
    # unknown names count as 0 (and are recorded); a division by zero expands to nothing
    assert texts(s, 1) == ["run", "1"]
    assert ("__import__", 4) in s.commands[1].unresolved
    assert any(name.startswith("$((1 / 0") for name, _ in s.commands[1].unresolved)


def test_arrays_append_and_akegarasu_style_unquoted_expansion():
    s = sh("""
        conv_dim=8
        conv_alpha=4
        extArgs=()
        launchArgs=("--multi_gpu")
        if [[ $conv_dim ]]; then
          extArgs+=("--network_args conv_dim=$conv_dim conv_alpha=$conv_alpha")
        fi
        extArgs+=("--network_train_unet_only" --flip_aug)
        run ${extArgs[@]} ${launchArgs[*]}
        run "${extArgs[@]}"
        run "${extArgs[*]}" ${#extArgs[@]} ${extArgs[1]} $extArgs
        """)
    assert texts(s, -3) == [
        "run",
        "--network_args",
        "conv_dim=8",
        "conv_alpha=4",
        "--network_train_unet_only",
        "--flip_aug",
        "--multi_gpu",
    ]
    assert texts(s, -2) == ["run", "--network_args conv_dim=8 conv_alpha=4", "--network_train_unet_only", "--flip_aug"]
    joined = "--network_args conv_dim=8 conv_alpha=4 --network_train_unet_only --flip_aug"
    assert texts(s, -1) == [
        "run",
        joined,
        "3",
        "--network_train_unet_only",
        "--network_args",
        "conv_dim=8",
        "conv_alpha=4",
    ]


def test_separators_comments_and_line_numbers():
    s = sh("""
        # a comment line
        set -e; cd kohya_ss/sd-scripts && source venv/bin/activate || exit 1  # trailing comment
        run --a 1 \\
            --b=2 \\
            --c "x y" | tee log.txt
        """)
    # `|| exit 1` runs only when `source` fails, and an ordinary command is taken to succeed
    assert [c.texts for c in s.commands] == [
        ["set", "-e"],
        ["cd", "kohya_ss/sd-scripts"],
        ["source", "venv/bin/activate"],
        ["run", "--a", "1", "--b=2", "--c", "x y"],
        ["tee", "log.txt"],
    ]
    assert s.commands[3].words == [
        Word("run", 3),
        Word("--a", 3),
        Word("1", 3),
        Word("--b=2", 4),
        Word("--c", 5),
        Word("x y", 5),
    ]


def test_commented_out_continuation_line_ends_the_command_as_in_bash():
    s = sh("""
        run --a=1 \\
          # --network_dim 64 \\
          --b=2 \\
          --c=3
        """)
    # bash: the comment runs to the end of its line, the newline ends `run --a=1`,
    # and `--b=2 --c=3` becomes a command of its own.
    assert [c.texts for c in s.commands] == [["run", "--a=1"], ["--b=2", "--c=3"]]
    assert s.commands[1].line == 3


def test_heredoc_becomes_a_virtual_file_expanded_unless_quoted():
    s = sh("""
        EPOCHS=5
        cat > config.toml <<EOL
        max_train_epochs = $((EPOCHS*2))
        learning_rate = "${LR:-1e-4}"
        EOL
        cat <<'EOF' > raw.toml
        note = "$EPOCHS"
        EOF
        cat > tabbed.toml <<-END
        \tkey = 1
        \tEND
        run --config_file=config.toml
        """)
    files = s.virtual_files
    assert files["config.toml"].text == 'max_train_epochs = 10\nlearning_rate = "1e-4"\n'
    assert files["config.toml"].line == 2
    assert files["raw.toml"].text == 'note = "$EPOCHS"\n'
    assert files["tabbed.toml"].text == "key = 1\n"
    # heredoc bodies never become commands
    assert [c.texts[0] for c in s.commands] == ["cat", "cat", "cat", "run"]
    assert s.commands[-1].words == [Word("run", 12), Word("--config_file=config.toml", 12)]


def test_decidable_if_picks_its_branch():
    s = sh("""
        is_v2_model=0
        algo="lora"
        DIM=32
        extArgs=()
        if [ $is_v2_model == 1 ]; then
          extArgs+=("--v2")
        elif [[ "$algo" == lo* ]]; then
          extArgs+=("--network_args algo=$algo")
          if [ $DIM -gt 16 ]; then extArgs+=("--big"); else extArgs+=("--small"); fi
        else
          extArgs+=("--never")
        fi
        if test -z "$algo"; then extArgs+=("--empty"); fi
        if [ ! -n "" ]; then extArgs+=("--negated"); fi
        run ${extArgs[@]}
        """)
    assert texts(s) == ["run", "--network_args", "algo=lora", "--big", "--negated"]


def test_undecidable_if_reads_every_branch_in_order():
    s = sh("""
        extArgs=()
        if [ -f "model.safetensors" ]; then extArgs+=("--a"); else extArgs+=("--b"); fi
        if [ "$FROM_ENV" = 1 ]; then extArgs+=("--c"); fi
        if grep -q x file; then extArgs+=("--d"); fi
        run ${extArgs[@]}
        """)
    assert texts(s) == ["run", "--a", "--b", "--c", "--d"]


def test_control_flow_reads_every_branch_in_order():
    s = sh("""
        if [ "$GPU" = "a100" ]; then
          BATCH=8
        else
          BATCH=2
        fi
        for f in a b; do echo $f; done
        run $BATCH
        """)
    assert texts(s) == ["run", "2"]


def test_env_prefix_is_not_an_argument():
    s = sh("CUDA_VISIBLE_DEVICES=0 HF_HOME=/x accelerate launch train.py\n")
    assert texts(s) == ["accelerate", "launch", "train.py"]
    assert s.commands[0].env == {"CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/x"}
    assert "CUDA_VISIBLE_DEVICES" not in s.variables


def test_redirections_are_not_words():
    s = sh("run --a 1 > out.log 2>&1\n")
    assert texts(s) == ["run", "--a", "1"]


def test_cmd_batch_file():
    s = sh(
        """
        @echo off
        REM training on windows
        :: another comment
        set "LR=1e-4"
        set dim=32
        set /a EPOCHS=5*2
        set EXTRA=--xformers --cache_latents
        call .\\venv\\Scripts\\activate.bat
        accelerate launch "%~dp0sd-scripts\\train_network.py" ^
          --learning_rate=%LR% ^
          --network_dim %DIM% ^
          --max_train_epochs=%epochs% %EXTRA% ^
          --output_dir="C:\\out dir" --unknown=%NOPE% > log.txt 2>&1
        """,
        "cmd",
    )
    assert texts(s) == [
        "accelerate",
        "launch",
        "sd-scripts\\train_network.py",
        "--learning_rate=1e-4",
        "--network_dim",
        "32",
        "--max_train_epochs=10",
        "--xformers",
        "--cache_latents",
        "--output_dir=C:\\out dir",
        "--unknown=",
    ]
    assert [w.line for w in s.commands[-1].words][3:7] == [10, 11, 11, 12]
    assert s.commands[-1].unresolved == [("NOPE", 13)]


def test_powershell_script():
    s = sh(
        """
        $env:HF_HOME = "C:\\hf"
        $lr = "1e-4"
        $Dim=16
        # comment
        <# block
        comment #>
        $extra = @("--xformers", "--cache_latents")
        .\\venv\\Scripts\\activate
        & accelerate launch "train_network.py" `
          --learning_rate=$lr `
          --network_dim $dim `
          --output_dir="$env:HF_HOME\\out" `
          --caption='it''s' $extra
        """,
        "powershell",
    )
    assert texts(s) == [
        "accelerate",
        "launch",
        "train_network.py",
        "--learning_rate=1e-4",
        "--network_dim",
        "16",
        "--output_dir=C:\\hf\\out",
        "--caption=it's",
        "--xformers",
        "--cache_latents",
    ]
    assert s.commands[-1].words[4] == Word("--network_dim", 11)


@pytest.mark.parametrize(
    ("name", "dialect"),
    [("train.sh", "posix"), ("run.bash", "posix"), ("a.BAT", "cmd"), ("a.cmd", "cmd"), ("a.ps1", "powershell")],
)
def test_dialect_for(name, dialect):
    assert dialect_for(name) == dialect


def test_crlf_line_endings():
    s = read_script("X=1\r\nrun $X \\\r\n  --b\r\n")
    assert texts(s) == ["run", "1", "--b"]
