"""Every hostile-input reproducer (tests/fuzz/repros/, vendored from ../shared/fuzz-repros) through the
real command line: exit 0/1/2, no traceback, one error line, within its time and 1 GiB, nothing leaked."""

from __future__ import annotations

from pathlib import Path

import pytest

from .owners import owner
from .replay import LEAKED, _judge, cases


@pytest.mark.parametrize("case", cases())
def test_reproducer(case, replayed):
    outcome = replayed[case].result()
    assert outcome.ok, f"{case} ({owner(case)}): {outcome.why}"


#: For each case judged by its grep's text (replay.LEAKED): what a leak prints, and what the fixed code prints.
LEAK_SAMPLES = {
    "A06_relative_base_relative_paths": (
        "--pretrained_model_name_or_path=model.safetensors\n",
        "ablate base: 3 variants x 300 steps\n"
        "--pretrained_model_name_or_path=/tmp/x/A06_relative_base_relative_paths/base/model.safetensors\n",
    ),
    "A07_control_char_run_name_breaks_builtin": (
        "# rundiff ablate (builtin backend): run ^[[31mred with network_dim=4\n",
        "ablate run red: 2 variants\n# rundiff ablate (builtin backend): run red with network_dim=4\n",
    ),
    "I02_terminal_ansi_from_config": (
        "  output_name  ^[]0;PWNED-TITLE^G^[[2J^[[31mFAKE: all checks passed^[[0m^M\n",
        "^[[1moutput_name^[[0m  low (same)  FAKE: all checks passed^M\n",
    ),
    "I05_ansi_in_diagnose_text_from_dirname": ("1\n", "warning: run_?[2J?[31mOK: no settings found\n0\n"),
    "I06_infer_rank_ansi_from_metadata": (
        "    ss_training_comment = ^[]0;PWNED-TITLE^G^[[2J^[[32mverified safe^[[0m^M\n",
        "    ss_training_comment = verified safe^M\n",
    ),
}


@pytest.mark.parametrize("case", sorted(LEAKED))
def test_a_grep_judged_case_fails_on_the_leak_and_passes_on_the_fix(case):
    leak, fixed = LEAK_SAMPLES[case]
    assert _judge(case, 0, leak, "")[0] is False
    assert _judge(case, 0, fixed, "") == (True, "exit 0")


def test_every_shared_case_is_vendored():
    """The shared folder (when present, as in CI) holds no case this copy lacks."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "fuzz-repros"
    if not shared.is_dir():
        pytest.skip("../shared/fuzz-repros is not beside this checkout")
    shared_cases = {c.name for c in shared.iterdir() if (c / "cmd").is_file()}
    assert not shared_cases - set(cases())
