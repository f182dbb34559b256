"""`$(dirname "$0")` and its idioms stand for the script's own folder: known without running anything."""

import pytest

from rundiff import load_run
from rundiff.ingest.shell_words import is_script_dir_idiom


@pytest.mark.parametrize(
    "text",
    [
        'dirname "$0"',
        "dirname $0",
        'dirname "${BASH_SOURCE[0]}"',
        'cd "$(dirname "$0")" && pwd',
        'cd -- "$(dirname "${BASH_SOURCE[0]}")" >/dev/null 2>&1 && pwd',
        'realpath "$(dirname "$0")"',
        'dirname "$(readlink -f "$0")"',
    ],
)
def test_idioms_are_recognised(text):
    assert is_script_dir_idiom(text)


@pytest.mark.parametrize("text", ["date +%s", 'dirname "$MODEL"', "pwd", 'cat "$0"', "cd /tmp && pwd"])
def test_other_substitutions_stay_unknown(text):
    assert not is_script_dir_idiom(text)


def test_run_dir_variable_resolves_to_the_script_folder(tmp_path):
    run = tmp_path / "run"
    (run / "dataset" / "5_cat").mkdir(parents=True)
    (run / "dataset" / "5_cat" / "a.png").write_bytes(b"png")
    (run / "train.sh").write_text(
        'RUN_DIR="$(cd "$(dirname "$0")" && pwd)"\n'
        'accelerate launch train_network.py --train_data_dir="$RUN_DIR/dataset" --output_dir="$RUN_DIR/out" '
        "--network_dim 8\n"
    )
    cells = load_run(run).cells
    assert cells["train_data_dir"].value == str(run.resolve() / "dataset")
    assert cells["num_repeats"].value == 5 and cells["image_count"].value == 1
