"""Markdown run notes: launch commands in fenced blocks count, prose and inline code do not."""

from __future__ import annotations

from pathlib import Path

from rundiff.ingest.markdown import fenced_blocks, ingest_markdown
from rundiff.model import SourceKind

NOTES = """\
# SDXL_Current training progress

Run 3 came out plastic. I dropped `--network_dim 64` and tried
`accelerate launch sdxl_train_network.py --network_dim 128` inline, which must not count.

```bash
$ cd kohya_ss/sd-scripts
$ accelerate launch --num_cpu_threads_per_process=2 sdxl_train_network.py \\
>   --pretrained_model_name_or_path=/models/sd_xl_base_1.0.safetensors \\
>   --network_dim=32 --network_alpha=16 \\
>   --learning_rate=1e-4 \\
>   --network_args "conv_dim=8" "conv_alpha=4"
```

Output:

~~~
steps:  10%|#         | 100/1000 [01:00<09:00, 1.66it/s, avr_loss=0.1]
~~~

    accelerate launch train_network.py --network_dim 999   (indented code: not a fence)

- A second attempt, inside a list item:

  ```powershell
  accelerate launch train_network.py `
    --network_dim 8
  ```
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "TRAINING_PROGRESS.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_fenced_commands_count_inline_mentions_do_not(tmp_path):
    path = write(tmp_path, NOTES)
    first, second = ingest_markdown(path)
    assert first.format == second.format == "markdown-command"
    assert first.trainer == "sd-scripts"
    cli = {f.key: f.value for f in first.facts if f.kind is SourceKind.CLI}
    assert cli["network_dim"] == "32"
    assert cli["network_alpha"] == "16"
    assert cli["learning_rate"] == "1e-4"
    assert cli["network_args"] == ["conv_dim=8", "conv_alpha=4"]
    assert cli["training_script"] == "sdxl_train_network.py"
    assert {f.key: f.value for f in first.facts if f.kind is SourceKind.LAUNCHER} == {
        "num_cpu_threads_per_process": "2"
    }
    # line numbers are those of the .md file
    lines = {f.key: f.line for f in first.facts}
    assert lines["training_script"] == 8
    assert lines["pretrained_model_name_or_path"] == 9
    assert lines["network_dim"] == 10
    assert lines["network_args"] == 12
    assert first.chain == f"{path}#8"
    assert {f.key: f.value for f in second.facts}["network_dim"] == "8"
    assert {f.key: f.line for f in second.facts}["network_dim"] == 27


def test_only_prose_and_inline_code_gives_nothing(tmp_path):
    path = write(tmp_path, "Use `accelerate launch train_network.py --network_dim 4` next time.\n")
    assert ingest_markdown(path) == []


def test_unclosed_fence_runs_to_the_end_and_cmd_info_string(tmp_path):
    path = write(tmp_path, "notes\n```bat\nset LR=2e-4\npython train_network.py ^\n  --learning_rate=%LR%\n")
    [source] = ingest_markdown(path)
    learning_rate = next(f for f in source.facts if f.key == "learning_rate")
    assert (learning_rate.value, learning_rate.line) == ("2e-4", 5)


def test_fenced_blocks_reports_first_content_line_and_info():
    blocks = fenced_blocks("a\n````sh title\n```\ninner\n````\n~~~\nx\n~~~\n")
    assert blocks == [(3, "sh title", "```\ninner"), (7, "", "x")]
