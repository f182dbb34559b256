"""Who owns which reproducer this session, and which are still expected to fail on main.

Kept beside the cases so a failing replay names the area to look in. `NOT_YET_FIXED` lists the
cases that failed when this branch last replayed them against main; the replay test marks them
xfail (not strict), so a fix elsewhere turns them into passes without editing this file, and
the list should shrink to nothing.
"""

from __future__ import annotations

OWNERS: dict[str, str] = {}
for _owner, _names in {
    "values (normalise/values.py)": "C01 C02 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12 C13 C14 C15 C16 C17 C17b "
    "C18 C42 C43 C44 C49 C50 C57 C58 H06",
    "scripts (ingest/shell_*)": "H01 H02 H03 H04 C23 C24 C25 M03 M04 M06",
    "diagnose (ingest/logs, diagnose/)": "C31 C32 C33 C34 C35 C36 H05 H07 H12 H13 M02 F02 F03 F04",
    "ablate (ablate/)": "A01 A02 A03 A04 A05 A06 A07",
    "reports (report/, cli/)": "C19 D01 D02 F05 F06 F07 H14 I01 I02 I03 I04 I05 X01 X02 X03",
    "infer (infer/, ingest/safetensors_file.py)": "C26 C27 C28 C29 C30 C40 C41 C54 C55 C56 I06 M05 X04",
    "fuzz (ingest/filesystem.py, ingest/bounded.py)": "C20 C21 C22 C37 C38 C39 C45 C46 C47 C48 C51 C52 C53 "
    "F01 F08 H08 H09 H10 H11 H15 M01",
}.items():
    for _prefix in _names.split():
        OWNERS[_prefix] = _owner


def owner(case: str) -> str:
    return OWNERS.get(case.split("_", 1)[0], "unassigned")


#: Failing on main when last replayed (see the module docstring): 2026-11-30 08:07 UTC.
NOT_YET_FIXED: frozenset[str] = frozenset(
    {
        "A03_env_passthrough_ld_preload",
        "A06_relative_base_relative_paths",
        "A07_control_char_run_name_breaks_builtin",
        "I02_terminal_ansi_from_config",
        "I05_ansi_in_diagnose_text_from_dirname",
        "I06_infer_rank_ansi_from_metadata",
    }
)
