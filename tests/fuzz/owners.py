"""Which area of rundiff each hostile-input reproducer exercises, so that a failing replay names where to look."""

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
